"""``aetrack tune``: search linker settings on cached detections with Optuna.

    aetrack tune ../shared/data/MOT17-train ../shared/data/PETS09-S2L1 --dets det/det.txt --out tune_out --trials 60

Each trial samples settings from the space (:mod:`aetrack.tune.space`) on top of the base
config, links every sequence's half (``--half first``, the tuning half, by default) and scores
the combined HOTA or IDF1 (:func:`aetrack.tune.protocol.score`). The study lives in
``<out>/study.db`` (Optuna's SQLite storage): running the same command again continues it up
to ``--trials`` trials in all. After every trial ``<out>/best.yaml`` (the best settings, for
``--linker-config``), ``<out>/trials.csv`` and ``<out>/trials.png`` (objective per trial and
best so far) are rewritten atomically.

Settings that the config refuses together (``new_track_score`` below ``high_score``, say) make
the trial fail with its reason recorded; they are not scored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetrack.data.mot import FrameRange
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.linker.config import LinkerConfig
from aetrack.linker.config_file import merge_linker_settings, write_linker_config
from aetrack.tune.protocol import CachedSequence, score
from aetrack.tune.space import Param, settings_of

OBJECTIVES = {"hota": "HOTA", "idf1": "IDF1"}
STUDY_NAME = "aetrack-tune"


@dataclass(frozen=True)
class TuneResult:
    """What a tuning run left: trials finished in all, the best value and settings, files."""

    trials: int
    best_value: float
    best_settings: dict[str, Any]
    outputs: list[Path]


def run_study(
    *,
    seqs: Sequence[CachedSequence],
    space: list[Param],
    base: LinkerConfig,
    out_dir: str | Path,
    trials: int,
    objective: str = "hota",
    frames: FrameRange | None = None,
    half: str | None = "first",
    seed: int = 0,
    progress: bool = True,
    label: str = "",
) -> TuneResult:
    """Run (or continue) the study in ``out_dir`` until it holds ``trials`` finished trials.

    ``label`` describes the data for the files' headers. A study in ``out_dir`` made with
    another objective, half or frame range is refused (start a new folder)."""
    try:
        import optuna
    except ImportError:
        raise AetrackError("aetrack tune needs optuna: pip install 'aetrack[tune]'") from None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if objective not in OBJECTIVES:
        raise AetrackError(f"--objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise AetrackError(f"--trials must be an integer >= 1, got {trials!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    protocol = {"objective": objective, "half": half, "frames": None if frames is None else str(frames),
                "sequences": sorted(s.name for s in seqs), "space": [dataclasses.asdict(p) for p in space],
                "base": dataclasses.asdict(base)}
    protocol = json.loads(json.dumps(protocol, default=str))
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=f"sqlite:///{(out / 'study.db').resolve()}", direction="maximize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True),
    )
    stored = study.user_attrs.get("protocol")
    if stored is None:
        study.set_user_attr("protocol", protocol)
    elif stored != protocol:
        changed = sorted(k for k in protocol if stored.get(k) != protocol[k])
        raise AetrackError(f"{out / 'study.db'} holds a study with another {', '.join(changed)}; "
                           f"continue it with the same options or tune into a new --out folder")

    metric = OBJECTIVES[objective]

    def trial_fn(trial: "optuna.Trial") -> float:
        values = {p.name: _suggest(trial, p) for p in space}
        try:
            cfg = merge_linker_settings(base, settings_of(values), where="trial")
        except AetrackError as err:
            trial.set_user_attr("invalid", str(err))
            raise optuna.TrialPruned(str(err)) from None
        report = score(cfg, seqs, frames=frames, half=half)
        for name in ("HOTA", "IDF1", "MOTA", "IDSW", "FP", "FN"):
            trial.set_user_attr(name, float(report.combined[name]))
        return float(report.combined[metric])

    def done() -> int:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
        return len(study.get_trials(deepcopy=False, states=states))

    outputs: list[Path] = []
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   disable=not progress)
    with bar:
        task = bar.add_task(f"tuning {metric}", total=trials, completed=min(done(), trials), best=_best_text(study))
        while done() < trials:
            study.optimize(trial_fn, n_trials=1, catch=())
            outputs = _write_outputs(study, out, base=base, space=space, metric=metric, half=half, frames=frames,
                                     label=label)
            bar.update(task, completed=min(done(), trials), best=_best_text(study))
    if not outputs:
        outputs = _write_outputs(study, out, base=base, space=space, metric=metric, half=half, frames=frames,
                                 label=label)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise AetrackError("no trial gave a valid linker config; widen or fix the search space")
    return TuneResult(trials=done(), best_value=float(study.best_value),
                      best_settings=settings_of(dict(study.best_params)), outputs=outputs)


def _suggest(trial: Any, p: Param) -> Any:
    if p.kind == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)


def _best_text(study: Any) -> str:
    try:
        return f"{study.best_value:.2f}"
    except ValueError:  # no complete trial yet
        return "-"


def _write_outputs(study: Any, out: Path, *, base: LinkerConfig, space: list[Param], metric: str, half: str | None,
                   frames: FrameRange | None, label: str) -> list[Path]:
    """best.yaml, trials.csv and trials.png for the study so far."""
    import optuna

    trials = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    paths = [out / "trials.csv", out / "trials.png"]
    names = [p.name for p in space]
    with atomic_write(paths[0]) as f:
        f.write(",".join(["trial", "state", f"objective_{metric}", "HOTA", "IDF1", "MOTA", "IDSW", "FP", "FN", *names]) + "\n")
        for t in trials:
            metrics = [t.user_attrs.get(k, "") for k in ("HOTA", "IDF1", "MOTA", "IDSW", "FP", "FN")]
            row = [t.number, t.state.name.lower(), "" if t.value is None else t.value, *metrics,
                   *(t.params.get(n, "") for n in names)]
            f.write(",".join(str(v) for v in row) + "\n")
    _plot(trials, paths[1], metric=metric)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        where = f"the {half} half of each sequence" if half else (f"frames {frames}" if frames else "all frames")
        attrs = best.user_attrs
        header = (f"aetrack tune: best of {len(complete)} scored trials (trial {best.number}), {metric} "
                  f"{best.value:.2f} on {where} of {label or 'the tuning data'}\n"
                  f"(HOTA {attrs.get('HOTA', float('nan')):.2f}, IDF1 {attrs.get('IDF1', float('nan')):.2f}, "
                  f"IDSW {attrs.get('IDSW', float('nan')):.0f}); "
                  f"use with --linker-config; keys not listed keep their defaults")
        best_path = write_linker_config(out / "best.yaml", settings_of(dict(best.params)), header=header)
        paths.insert(0, best_path)
    return paths


def _plot(trials: list[Any], path: Path, *, metric: str) -> None:
    """Objective per scored trial (dots) and the best so far (line), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [(t.number, t.value) for t in trials if t.value is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    if scored:
        xs, ys = zip(*scored)
        best, run = [], float("-inf")
        for y in ys:
            run = max(run, y)
            best.append(run)
        ax.plot(xs, ys, "o", ms=4, alpha=0.6, label=f"{metric} per trial")
        ax.step(xs, best, where="post", color="C3", label="best so far")
        ax.legend(loc="lower right")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(f"aetrack tune: {len(scored)} scored trials")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
