"""MOTChallenge evaluation: devkit parity, hand-derived scripted cases, CLI errors.

Scripted cases use boxes far apart and exact copies of gt boxes, so every match has IoU 1 and
the metrics can be derived by hand (derivations in comments). Parity tests compare with
motmetrics' published TUD-Campus numbers and with TrackEval's own ``MotChallenge2DBox``
pipeline run on a temporary folder layout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import motmetrics
import numpy as np
import pytest
from typer.testing import CliRunner

from aetrack.data.mot import MotTable, find_sequences, read_mot_file
from aetrack.errors import AetrackError
from aetrack.eval import EvalReport, evaluate, evaluate_tables
from aetrack.eval.hota import trackeval_clear_id
from aetrack.eval.preprocess import box_iou_xywh, prepare_sequence
from cli.main import app

MM_DATA = Path(motmetrics.__file__).parent / "data"

# Boxes (x, y, w, h) far enough apart that no two overlap.
A = (0.0, 0.0, 50.0, 100.0)
B = (200.0, 0.0, 50.0, 100.0)
C = (400.0, 0.0, 50.0, 100.0)
FAR = (800.0, 0.0, 50.0, 100.0)


def _row(frame: int, tid: int, box: tuple[float, ...], *extra: float) -> str:
    return ",".join(str(v) for v in (frame, tid, *box, *extra))


def _mot15_gt(frame: int, tid: int, box: tuple[float, ...], flag: int = 1) -> str:
    return _row(frame, tid, box, flag, -1, -1, -1)


def _mot17_gt(frame: int, tid: int, box: tuple[float, ...], cls: int = 1, flag: int = 1) -> str:
    return _row(frame, tid, box, flag, cls, 1.0)


def _res(frame: int, tid: int, box: tuple[float, ...]) -> str:
    return _row(frame, tid, box, 1, -1, -1, -1)


def _sequence(root: Path, name: str, gt_lines: list[str], length: int) -> Path:
    seq = root / name
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("\n".join(gt_lines) + "\n")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nframeRate=25\nseqLength={length}\nimWidth=1920\nimHeight=1080\n"
    )
    return seq


def _results(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    return path


def _run_scripted(tmp_path: Path, gt_lines: list[str], res_lines: list[str], *, length: int = 4,
                  **kwargs: object) -> EvalReport:
    _sequence(tmp_path / "gt", "S", gt_lines, length)
    _results(tmp_path / "res", "S", res_lines)
    return evaluate(tmp_path / "gt", tmp_path / "res", **kwargs)  # type: ignore[arg-type]


def _cli(*args: str):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


# ----------------------------------------------------------------------------- devkit parity


def test_tud_campus_matches_devkit_numbers(tmp_path: Path) -> None:
    """motmetrics' bundled TUD-Campus pair (MOT15 rules) through ``aetrack eval --json``.

    motmetrics' own test_motchallenge_files lists, for this pair: IDF1 0.557659, IDP 0.729730,
    IDR 0.451253, FP 13, FN 150, IDSW 7, Frag 7, MT 1, ML 1, MOTA 0.526462, MOTP (distance)
    0.277201, i.e. mean IoU 72.28 %.
    """
    src = MM_DATA / "TUD-Campus"
    seq = _sequence(tmp_path / "gt", "TUD-Campus", [], length=71)  # both files end at frame 71
    shutil.copy(src / "gt.txt", seq / "gt" / "gt.txt")
    res = tmp_path / "res"
    res.mkdir()
    shutil.copy(src / "test.txt", res / "TUD-Campus.txt")
    out = tmp_path / "m.json"
    result = _cli(tmp_path / "gt", res, "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["benchmarks"] == {"TUD-Campus": "MOT15"}
    row = data["sequences"]["TUD-Campus"]
    assert round(row["IDF1"], 1) == 55.8 and round(row["MOTA"], 1) == 52.6
    assert row["IDF1"] == pytest.approx(55.7659, abs=1e-3)
    assert row["MOTA"] == pytest.approx(52.6462, abs=1e-3)
    assert row["IDP"] == pytest.approx(72.9730, abs=1e-3)
    assert row["IDR"] == pytest.approx(45.1253, abs=1e-3)
    assert row["MOTP"] == pytest.approx(100 * (1 - 0.277201), abs=1e-3)
    assert {k: row[k] for k in ("FP", "FN", "IDSW", "Frag", "MT", "ML")} == {
        "FP": 13, "FN": 150, "IDSW": 7, "Frag": 7, "MT": 1, "ML": 1}
    assert all(type(row[k]) is int for k in ("FP", "FN", "IDSW", "Frag", "MT", "ML"))
    assert data["combined"] == row  # one sequence: the combination is that sequence
    assert "COMBINED" in result.stdout and "55.8" in result.stdout


def _trackeval_official(gt_root: Path, res_dir: Path, seqs: list[str], benchmark: str, tmp: Path) -> dict:
    """HOTA / DetA / AssA per sequence and COMBINED_SEQ from TrackEval's own MOTChallenge pipeline."""
    trackeval = pytest.importorskip("trackeval")
    for s in seqs:
        (tmp / "gt" / s / "gt").mkdir(parents=True)
        shutil.copy(gt_root / s / "gt" / "gt.txt", tmp / "gt" / s / "gt" / "gt.txt")
        shutil.copy(gt_root / s / "seqinfo.ini", tmp / "gt" / s / "seqinfo.ini")
        (tmp / "tr" / "t" / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy(res_dir / f"{s}.txt", tmp / "tr" / "t" / "data" / f"{s}.txt")
    evaluator = trackeval.Evaluator({
        "USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "TIME_PROGRESS": False})
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(tmp / "gt"), "TRACKERS_FOLDER": str(tmp / "tr"), "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": {s: None for s in seqs}, "BENCHMARK": benchmark, "PRINT_CONFIG": False,
        "TRACKERS_TO_EVAL": ["t"]})
    res, _ = evaluator.evaluate([dataset], [trackeval.metrics.HOTA()])
    out = res["MotChallenge2DBox"]["t"]
    return {k: {m: 100 * float(np.mean(v["pedestrian"]["HOTA"][m])) for m in ("HOTA", "DetA", "AssA")}
            for k, v in out.items()}


def test_hota_identical_to_trackeval_pipeline_mot15(tmp_path: Path) -> None:
    # TUD-Campus and TUD-Stadtmitte: our shared preprocessing + trackeval's HOTA class must give
    # exactly what trackeval's file-reading MotChallenge2DBox dataset gives.
    gt_root, res = tmp_path / "gt", tmp_path / "res"
    names = ["TUD-Campus", "TUD-Stadtmitte"]
    for name in names:
        length = int(np.loadtxt(MM_DATA / name / "gt.txt", delimiter=",")[:, 0].max())
        seq = _sequence(gt_root, name, [], length)
        shutil.copy(MM_DATA / name / "gt.txt", seq / "gt" / "gt.txt")
        res.mkdir(exist_ok=True)
        shutil.copy(MM_DATA / name / "test.txt", res / f"{name}.txt")
    official = _trackeval_official(gt_root, res, names, "MOT15", tmp_path / "te")
    report = evaluate(gt_root, res)
    for name in names:
        for m in ("HOTA", "DetA", "AssA"):
            assert report.sequences[name][m] == pytest.approx(official[name][m], abs=1e-9)
    for m in ("HOTA", "DetA", "AssA"):
        assert report.combined[m] == pytest.approx(official["COMBINED_SEQ"][m], abs=1e-9)


def _noisy_results(gt: MotTable, seed: int) -> list[str]:
    """Tracker-like output from gt: pedestrians and distractors, 10 % dropped, jittered boxes,
    30 % of identities switched to a new id part-way, 2 % extra random boxes."""
    rng = np.random.default_rng(seed)
    g = gt.subset(np.isin(gt.cls, [1, 2, 7, 8, 12]))
    g = g.subset(rng.random(len(g)) > 0.1)
    frames, ids, boxes = g.frame, g.ids.copy(), g.boxes.copy()
    boxes[:, :2] += rng.normal(0.0, 0.05, (len(boxes), 2)) * boxes[:, 2:]
    boxes[:, 2:] *= np.exp(rng.normal(0.0, 0.05, (len(boxes), 2)))
    for tid in np.unique(ids):
        if rng.random() < 0.3:
            own = ids == tid
            ids[own & (frames >= rng.choice(frames[own]))] += 100_000
    n_fp = len(frames) // 50
    fp_boxes = np.column_stack([rng.uniform(0, 1500, n_fp), rng.uniform(0, 800, n_fp),
                                rng.uniform(20, 100, n_fp), rng.uniform(50, 250, n_fp)])
    lines = [_res(int(f), int(i), tuple(np.round(b, 2))) for f, i, b in zip(frames, ids, boxes)]
    lines += [_res(int(f), 200_000 + k, tuple(np.round(b, 2)))
              for k, (f, b) in enumerate(zip(rng.choice(frames, n_fp), fp_boxes))]
    return lines


MOT17_SMALL = ["MOT17-05-FRCNN", "MOT17-09-FRCNN"]


def test_mot17_motmetrics_and_trackeval_agree(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "MOT17-train"
    res = tmp_path / "res"
    gt_root = tmp_path / "gt"
    for name in MOT17_SMALL:
        shutil.copytree(root / name, gt_root / name, ignore=shutil.ignore_patterns("img1", "det"))
        _results(res, name, _noisy_results(read_mot_file(root / name / "gt" / "gt.txt"), seed=len(name)))
    report = evaluate(gt_root, res)
    assert set(report.benchmarks.values()) == {"MOT17"}
    assert all(n > 0 for n in report.removed.values())  # the distractor rule was exercised
    # HOTA: bit-identical with trackeval's own file pipeline.
    official = _trackeval_official(gt_root, res, MOT17_SMALL, "MOT17", tmp_path / "te")
    for name in MOT17_SMALL:
        assert report.sequences[name]["HOTA"] == pytest.approx(official[name]["HOTA"], abs=1e-9)
    assert report.combined["AssA"] == pytest.approx(official["COMBINED_SEQ"]["AssA"], abs=1e-9)
    # MOTA / IDF1: motmetrics (reported) against trackeval's CLEAR / Identity on the same data.
    prepared = [prepare_sequence(gt=read_mot_file(gt_root / n / "gt" / "gt.txt"),
                                 results=read_mot_file(res / f"{n}.txt", kind="results"), name=n)
                for n in MOT17_SMALL]
    te_seq, te_all = trackeval_clear_id(prepared)
    for name in MOT17_SMALL:
        for m in ("MOTA", "IDF1"):
            assert abs(report.sequences[name][m] - te_seq[name][m]) < 0.1, (name, m)
    for m in ("MOTA", "IDF1"):
        assert abs(report.combined[m] - te_all[m]) < 0.1
    assert 50 < report.combined["MOTA"] < 99  # the noise really costs something


def test_mot17_gt_as_results_is_perfect(shared_data: Path, tmp_path: Path) -> None:
    name = "MOT17-09-FRCNN"
    gt_root = shared_data / "MOT17-train" / name
    gt = read_mot_file(gt_root / "gt" / "gt.txt")
    kept = gt.subset((gt.conf != 0) & (gt.cls == 1))  # what the MOT17 rules evaluate
    lines = [_res(int(f), int(i), tuple(b)) for f, i, b in zip(kept.frame, kept.ids, kept.boxes)]
    report = evaluate(gt_root, _results(tmp_path / "res", name, lines).parent)
    row = report.sequences[name]
    for m in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP"):
        assert row[m] == pytest.approx(100.0), m
    assert (row["FP"], row["FN"], row["IDSW"]) == (0, 0, 0)


# ------------------------------------------------------------------- scripted, derived by hand


def test_perfect_scripted_results(tmp_path: Path) -> None:
    gt = [_mot17_gt(f, i, box) for f in (1, 2, 3) for i, box in ((1, A), (2, B))]
    res = [_res(f, i + 10, box) for f in (1, 2, 3) for i, box in ((1, A), (2, B))]
    row = _run_scripted(tmp_path, gt, res, length=3).sequences["S"]
    for m in ("HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR"):
        assert row[m] == pytest.approx(100.0), m
    assert (row["MT"], row["ML"], row["Frag"]) == (2, 0, 0)


def test_one_identity_switch(tmp_path: Path) -> None:
    # gt: track 1 at A and track 2 at B in frames 1-4 (8 boxes). Tracker: id 1 on A throughout,
    # id 2 on B in frames 1-2, id 3 on B in frames 3-4.
    gt = [_mot15_gt(f, i, box) for f in range(1, 5) for i, box in ((1, A), (2, B))]
    res = [_res(f, 1, A) for f in range(1, 5)] + [_res(f, 2 if f <= 2 else 3, B) for f in range(1, 5)]
    row = _run_scripted(tmp_path, gt, res).sequences["S"]
    # CLEAR: FN 0, FP 0, IDSW 1 -> MOTA = 1 - 1/8 = 87.5 %.
    assert (row["FN"], row["FP"], row["IDSW"]) == (0, 0, 1)
    assert row["MOTA"] == pytest.approx(87.5)
    # Identity: best one-to-one map 1->1 (4 IDTP) and 2->2 (2 IDTP, or 2->3, also 2): IDTP 6,
    # IDFP 2, IDFN 2 -> IDF1 = 2*6 / (2*6 + 2 + 2) = 75 %, IDP = IDR = 6/8 = 75 %.
    assert (row["IDF1"], row["IDP"], row["IDR"]) == pytest.approx((75.0, 75.0, 75.0))
    # HOTA: every box detected at IoU 1 -> DetA 100. AssA per TP: track 1 pairs score 4/4 = 1;
    # track 2's pairs (with 2 or with 3) score 2 / (2 + 2 + 0) = 0.5; mean over 8 TPs =
    # (4*1 + 4*0.5) / 8 = 0.75 -> HOTA = sqrt(1 * 0.75) = 86.60 %.
    assert row["DetA"] == pytest.approx(100.0)
    assert row["AssA"] == pytest.approx(75.0)
    assert row["HOTA"] == pytest.approx(100 * np.sqrt(0.75))
    assert (row["MT"], row["ML"]) == (2, 0)


def test_one_false_positive(tmp_path: Path) -> None:
    # gt: one track at A in frames 1-3; tracker: exact copy plus one box at FAR in frame 2.
    gt = [_mot15_gt(f, 1, A) for f in (1, 2, 3)]
    res = [_res(f, 7, A) for f in (1, 2, 3)] + [_res(2, 8, FAR)]
    row = _run_scripted(tmp_path, gt, res, length=3).sequences["S"]
    # MOTA = 1 - FP/GT = 1 - 1/3; IDF1 = 2*3 / (3 + 4) = 6/7 (3 gt boxes, 4 tracker boxes).
    assert (row["FP"], row["FN"], row["IDSW"]) == (1, 0, 0)
    assert row["MOTA"] == pytest.approx(100 * (1 - 1 / 3))
    assert row["IDF1"] == pytest.approx(100 * 6 / 7)
    assert row["IDP"] == pytest.approx(75.0) and row["IDR"] == pytest.approx(100.0)
    # DetA = TP / (TP + FN + FP) = 3/4 at every IoU threshold; AssA = 1 -> HOTA = sqrt(0.75).
    assert row["DetA"] == pytest.approx(75.0)
    assert row["HOTA"] == pytest.approx(100 * np.sqrt(0.75))


def test_box_on_distractor_is_dropped(tmp_path: Path) -> None:
    # MOT17 gt, frames 1-2: pedestrian 1 at A; static person (class 7, flag 0) 2 at B;
    # reflection (class 12, flag 1) 3 at C. Tracker: exact boxes on A, B and C, plus in frame 2
    # a box of half of C's width inside C (IoU 0.5 exactly) under a new id.
    gt = [_mot17_gt(f, 1, A) for f in (1, 2)] + [_mot17_gt(f, 2, B, cls=7, flag=0) for f in (1, 2)]
    gt += [_mot17_gt(f, 3, C, cls=12) for f in (1, 2)]
    half_c = (C[0], C[1], C[2] / 2, C[3])
    assert box_iou_xywh(np.array([C]), np.array([half_c]))[0, 0] == 0.5
    res = [_res(f, 1, A) for f in (1, 2)] + [_res(f, 2, B) for f in (1, 2)] + [_res(f, 3, C) for f in (1, 2)]
    res_half = res + [_res(1, 4, FAR), _res(2, 5, half_c)]
    report = _run_scripted(tmp_path, gt, res_half, length=2)
    row = report.sequences["S"]
    assert report.benchmarks == {"S": "MOT17"}
    # Boxes on B (2) and C (2) are removed. In frame 2 C is already taken by id 3 in the
    # Hungarian match (IoU 1 beats 0.5), so the half box stays and is a FP, like FAR in frame 1.
    assert report.removed == {"S": 4}
    assert (row["FP"], row["FN"], row["IDSW"]) == (2, 0, 0)
    # Only pedestrian 1 is gt: 2 boxes, 2 FPs -> MOTA = 1 - 2/2 = 0.
    assert row["MOTA"] == pytest.approx(0.0)


def test_distractor_match_needs_iou_half(tmp_path: Path) -> None:
    # One static person (class 7) at C in frame 1 and pedestrian 1 at A. A tracker box of half
    # C's width (IoU 0.5) is dropped; a box 1 px narrower (IoU 0.49) is not and becomes a FP.
    gt = [_mot17_gt(1, 1, A), _mot17_gt(1, 2, C, cls=7)]
    for width, fp in ((25.0, 0), (24.0, 1)):
        sub = tmp_path / str(width)
        row = _run_scripted(sub, gt, [_res(1, 1, A), _res(1, 2, (C[0], C[1], width, C[3]))],
                            length=1).sequences["S"]
        assert row["FP"] == fp, width
        assert row["MOTA"] == pytest.approx(100.0 * (1 - fp / 1))


def test_zero_flag_pedestrian_is_not_a_distractor(tmp_path: Path) -> None:
    # Devkit rule: only classes 2, 7, 8, 12 excuse a tracker box. A box on a pedestrian with
    # flag 0 is not removed; that gt row is not evaluated, so the box is a FP.
    gt = [_mot17_gt(1, 1, A), _mot17_gt(1, 2, B, cls=1, flag=0)]
    row = _run_scripted(tmp_path, gt, [_res(1, 1, A), _res(1, 2, B)], length=1).sequences["S"]
    assert (row["FP"], row["FN"]) == (1, 0)


def test_mot15_ignores_zero_flag_gt_without_preprocessing(tmp_path: Path) -> None:
    # MOT15 rules: gt at B has flag 0 -> not counted as a miss; the tracker box on it is a FP.
    gt = [_mot15_gt(1, 1, A), _mot15_gt(1, 2, B, flag=0), _mot15_gt(2, 1, A)]
    row = _run_scripted(tmp_path, gt, [_res(1, 5, A), _res(1, 6, B)], length=2).sequences["S"]
    # gt boxes counted: A in frames 1 and 2 -> 1 TP, 1 FN; 1 FP -> MOTA = 1 - 2/2 = 0.
    assert (row["FP"], row["FN"]) == (1, 1)
    assert row["MOTA"] == pytest.approx(0.0)


def test_benchmark_option_and_mot20_rules(tmp_path: Path) -> None:
    # Class 6 (non-MOT vehicle) is a distractor only under MOT20 rules.
    gt = [_mot17_gt(1, 1, A), _mot17_gt(1, 2, B, cls=6)]
    res = [_res(1, 1, A), _res(1, 2, B)]
    assert _run_scripted(tmp_path / "a", gt, res, length=1).sequences["S"]["FP"] == 1
    mot20 = _run_scripted(tmp_path / "b", gt, res, length=1, benchmark="mot20")
    assert mot20.benchmarks == {"S": "MOT20"} and mot20.sequences["S"]["FP"] == 0


@pytest.mark.parametrize("gt_format", ["mot15", "mot17"])
def test_only_person_rows_of_multi_class_results_are_evaluated(tmp_path: Path, gt_format: str) -> None:
    # gt: pedestrians 1 at A and 2 at B in frames 1-4 (8 boxes), as PETS (MOT15 columns) or
    # MOT17 (class 1). aetrack results, column 8 = 1-based class (person 1, car 3):
    #   person 1 on A in frames 1-4; car 2 at FAR in frames 1-4 (no gt there); car 3 exactly on
    #   B in frames 1-2; id 4 on B in frames 3-4 with -1 in column 8 (an older file: person).
    # Only class 1 and -1 rows count, so the cars are neither FPs nor matches:
    #   TP 4 (A) + 2 (B, frames 3-4), FN 2 (B, frames 1-2), FP 0, IDSW 0 -> MOTA = 1 - 2/8 = 75 %.
    #   IDF1: IDTP 4 (1->1) + 2 (2->4) = 6 over 8 gt and 6 tracker boxes -> 2*6 / 14 = 85.71 %.
    # (Counting the cars would give FP 4 and IDSW 1 on B (3 -> 4), FN 0: MOTA 1 - 5/8 = 37.5 %.)
    gt_row = _mot15_gt if gt_format == "mot15" else _mot17_gt
    gt = [gt_row(f, i, box) for f in range(1, 5) for i, box in ((1, A), (2, B))]
    res = [_row(f, 1, A, 1, 1, -1, -1) for f in range(1, 5)] + [_row(f, 2, FAR, 1, 3, -1, -1) for f in range(1, 5)]
    res += [_row(f, 3, B, 1, 3, -1, -1) for f in (1, 2)] + [_res(f, 4, B) for f in (3, 4)]
    report = _run_scripted(tmp_path, gt, res)
    row = report.sequences["S"]
    assert report.benchmarks == {"S": "MOT15" if gt_format == "mot15" else "MOT17"}
    assert (row["FP"], row["FN"], row["IDSW"]) == (0, 2, 0)
    assert row["MOTA"] == pytest.approx(75.0)
    assert row["IDF1"] == pytest.approx(100 * 12 / 14)
    if gt_format == "mot17":  # recall by visibility (MOT17 gt only) sees the person rows too: 6 of 8
        from aetrack.eval.visibility import recall_by_visibility

        seq_gt = read_mot_file(tmp_path / "gt" / "S" / "gt" / "gt.txt")
        found = recall_by_visibility(gt={"S": seq_gt}, results={"S": read_mot_file(tmp_path / "res" / "S.txt",
                                                                                    kind="results")})
        assert (sum(found["found"]), sum(found["total"])) == (6, 8)


def test_frame_range_restricts_gt_and_results(tmp_path: Path) -> None:
    # The identity-switch scene restricted to frames 1:2 has no switch: everything is perfect.
    gt = [_mot15_gt(f, i, box) for f in range(1, 5) for i, box in ((1, A), (2, B))]
    res = [_res(f, 1, A) for f in range(1, 5)] + [_res(f, 2 if f <= 2 else 3, B) for f in range(1, 5)]
    report = _run_scripted(tmp_path, gt, res, frames="1:2")
    assert (report.sequences["S"]["IDSW"], report.sequences["S"]["IDF1"]) == (0, pytest.approx(100.0))
    # Frames 3:4 only: ids 1 and 3 follow A and B without a switch either.
    report = evaluate(tmp_path / "gt", tmp_path / "res", frames="3:4")
    assert report.sequences["S"]["MOTA"] == pytest.approx(100.0)


def test_combined_sums_counts_and_missing_results_warn(tmp_path: Path) -> None:
    # Two sequences; "T" has no results file: its 3 gt boxes are all misses.
    _sequence(tmp_path / "gt", "S", [_mot15_gt(f, 1, A) for f in (1, 2, 3)], 3)
    _sequence(tmp_path / "gt", "T", [_mot15_gt(f, 1, A) for f in (1, 2, 3)], 3)
    _results(tmp_path / "res", "S", [_res(f, 1, A) for f in (1, 2, 3)] + [_res(2, 2, FAR)])
    report = evaluate(tmp_path / "gt", tmp_path / "res")
    assert len(report.warnings) == 1 and "T.txt" in report.warnings[0]
    assert report.sequences["T"]["FN"] == 3 and report.sequences["T"]["HOTA"] == 0.0
    c = report.combined
    # Sums: 6 gt boxes, 3 TP, 3 FN, 1 FP -> MOTA = 1 - 4/6; IDF1 = 2*3 / (6 + 4) = 60 %.
    assert (c["FP"], c["FN"], c["IDSW"]) == (1, 3, 0)
    assert c["MOTA"] == pytest.approx(100 * (1 - 4 / 6))
    assert c["IDF1"] == pytest.approx(60.0)
    assert c["MOTP"] == pytest.approx(100.0)  # the empty sequence has no matches to average
    payload = json.loads(report.to_json())
    assert payload["sequences"]["T"]["IDP"] is None  # 0 / 0 is undefined, not 0
    result = _cli(tmp_path / "gt", tmp_path / "res")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "T.txt" in result.stderr


def test_in_memory_tables_match_files(tmp_path: Path) -> None:
    gt = [_mot17_gt(f, i, box) for f in range(1, 5) for i, box in ((1, A), (2, B))]
    gt += [_mot17_gt(f, 3, C, cls=8, flag=0) for f in range(1, 5)]
    res = [_res(f, 1, A) for f in range(1, 5)] + [_res(f, 2 if f <= 2 else 3, B) for f in range(1, 5)]
    res += [_res(3, 9, C), _res(4, 9, FAR)]
    from_files = _run_scripted(tmp_path, gt, res)
    seq = find_sequences(tmp_path / "gt")[0]
    in_memory = evaluate_tables(gt={"S": seq.gt()},
                                results={"S": read_mot_file(tmp_path / "res" / "S.txt", kind="results")})
    assert in_memory.sequences == from_files.sequences
    assert in_memory.combined == from_files.combined
    assert from_files.sequences["S"]["FP"] == 1  # C in frame 3 dropped (distractor), FAR counts


def _table(frames: list[int], ids: list[int], boxes: list[tuple[float, ...]]) -> MotTable:
    n = len(frames)
    return MotTable(np.array(frames), np.array(ids), np.array(boxes, dtype=float).reshape(n, 4), np.ones(n),
                    np.ones(n, dtype=np.int64), np.ones(n), "mot15")


def test_in_memory_validation() -> None:
    gt = _table([1], [1], [A])
    with pytest.raises(AetrackError, match="id 1 appears twice in frame 1"):
        evaluate_tables(gt={"S": gt}, results={"S": _table([1, 1], [1, 1], [A, B])})
    with pytest.raises(AetrackError, match="no ground truth"):
        evaluate_tables(gt={"S": gt}, results={"X": MotTable.empty()})
    with pytest.raises(AetrackError, match="unknown benchmark"):
        evaluate_tables(gt={"S": gt}, results={}, benchmark="MOT99")
    with pytest.raises(AetrackError, match="beyond the sequence length 3"):
        evaluate_tables(gt={"S": gt}, results={"S": _table([4], [1], [A])}, num_frames={"S": 3})
    with pytest.raises(AetrackError, match="no sequences"):
        evaluate_tables(gt={}, results={})


# ------------------------------------------------------------------------------ CLI bad input


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_cli_missing_gt_folder(tmp_path: Path) -> None:
    (tmp_path / "res").mkdir()
    assert "not found" in _one_error_line(_cli(tmp_path / "nope", tmp_path / "res"))


def test_cli_missing_results_folder(tmp_path: Path) -> None:
    _sequence(tmp_path / "gt", "S", [_mot15_gt(1, 1, A)], 1)
    line = _one_error_line(_cli(tmp_path / "gt", tmp_path / "nores"))
    assert "nores" in line and "results folder not found" in line


def test_cli_duplicate_result_ids_name_file_and_line(tmp_path: Path) -> None:
    _sequence(tmp_path / "gt", "S", [_mot15_gt(1, 1, A)], 2)
    path = _results(tmp_path / "res", "S", [_res(1, 1, A), _res(2, 4, A), _res(2, 4, B)])
    line = _one_error_line(_cli(tmp_path / "gt", tmp_path / "res"))
    assert f"{path}:3" in line and "id 4" in line


def test_cli_short_gt_row_names_file_and_line(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "gt", "S", [_mot17_gt(1, 1, A), "2,1,0,0,50"], 2)
    (tmp_path / "res").mkdir()
    line = _one_error_line(_cli(tmp_path / "gt", tmp_path / "res"))
    assert f"{seq / 'gt' / 'gt.txt'}:2" in line and "at least 6" in line


def test_cli_bad_options(tmp_path: Path) -> None:
    _sequence(tmp_path / "gt", "S", [_mot15_gt(1, 1, A)], 1)
    (tmp_path / "res").mkdir()
    assert "unknown benchmark" in _one_error_line(_cli(tmp_path / "gt", tmp_path / "res", "--benchmark", "KITTI"))
    assert "frame range" in _one_error_line(_cli(tmp_path / "gt", tmp_path / "res", "--frames", "9:2"))
    _results(tmp_path / "res", "S", [_res(5, 1, A)])
    assert "beyond the sequence length 1" in _one_error_line(_cli(tmp_path / "gt", tmp_path / "res"))
