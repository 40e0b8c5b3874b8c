"""The house reads one way (issue 29): imports run down the layers, with no loop anywhere.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``,
inside functions and under ``TYPE_CHECKING`` too. A room is a top-level module of ``aetrack``
(``tracker``, ``decode``, ...), a folder of it counted as one node (``model/``, ``train/``,
...), or the CLI (``cli/``). Three checks: no loop among rooms; no loop among the modules of
one folder; and every import goes to the room's own layer or one below it, in this order:
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Top to bottom; a room imports rooms of its own layer (without a loop) or of the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),  # the typer application, one thin module per command
    ("batch", "bench", "tune"),  # many inputs; benchmarks; tuning the linker's settings
    ("train", "experiment", "losses", "yolox_loss"),  # training: loop, experiment configs, losses
    ("track_job", "pipeline", "tracker", "backend"),  # one input's run; the tracking loop; Tracker; engines
    ("decode", "data", "eval", "model", "linker", "camera_motion"),  # stages of the picture in DESIGN.md
    ("io", "config", "errors", "assets", "device", "validate", "cvlog", "lazy"),  # small shared pieces
)
LAYER = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of aetrack and cli (a package by its folder)."""
    out = {}
    for path in sorted([*(REPO / "aetrack").rglob("*.py"), *(REPO / "cli").rglob("*.py")]):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module ``name`` imports: itself or its longest known prefix (``a.b.Name`` -> ``a.b``)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) or None


def _imports() -> dict[str, dict[str, int]]:
    """Module -> {imported module of aetrack or cli: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [_known(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1 folders
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                # "from a.b import c" imports module a.b.c when there is one, else a name of a.b.
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else _known(base) for a in node.names]
            else:
                continue
            for name in names:
                if name is not None and name != module:
                    found.setdefault(name, node.lineno)
        graph[module] = found
    return graph


GRAPH = _imports()


def room(module: str) -> str:
    """``aetrack.model.yolox`` -> ``model``; ``cli.track_cmd`` -> ``cli``; ``aetrack`` -> ``aetrack``."""
    parts = module.split(".")
    return "cli" if parts[0] == "cli" else parts[1] if len(parts) > 1 else "aetrack"


def _loops(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def _where(a: str, b: str) -> str:
    return f"{MODULES[a].relative_to(REPO)}:{GRAPH[a][b]} imports {b}"


def test_every_room_has_a_layer() -> None:
    rooms = {room(m) for m in MODULES} - {"aetrack"}
    assert sorted(rooms - set(LAYER)) == [], "place each new room in LAYERS"
    assert sorted(set(LAYER) - rooms) == [], "a room in LAYERS that is gone"


def test_imports_run_down_the_layers() -> None:
    up = [_where(a, b) for a, targets in GRAPH.items() for b in targets
          if room(a) != "aetrack" and room(b) != "aetrack" and LAYER[room(b)] < LAYER[room(a)]]
    assert up == []


def test_only_the_cli_imports_the_package_facade() -> None:
    # aetrack/__init__.py re-exports the public names (``from aetrack import Tracker``): the top.
    inside = [_where(a, b) for a, targets in GRAPH.items() for b in targets if b == "aetrack" and room(a) != "cli"]
    assert inside == []


def test_no_loop_among_rooms() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for a, targets in GRAPH.items():
        for b in targets:
            if room(a) != room(b):
                edges[room(a)].add(room(b))
    assert _loops(sorted({room(m) for m in MODULES}), edges) == []


def test_no_loop_among_the_modules_of_a_folder() -> None:
    edges = {a: {b for b in targets if room(b) == room(a)} for a, targets in GRAPH.items()}
    assert _loops(sorted(MODULES), edges) == []


def test_the_checks_see_a_loop_and_an_upward_import() -> None:
    # The checker itself, on a made-up graph: a -> b -> c -> a is one loop; d alone is none.
    assert _loops(["a", "b", "c", "d"], {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    # And on the real one: the tracker imports the linker (down), never the other way round.
    assert "aetrack.linker" in GRAPH["aetrack.tracker"]
    assert LAYER["tracker"] < LAYER["linker"]


def test_the_readme_architecture_lists_every_room_in_layer_order() -> None:
    # README.md "Architecture": one table row per room, top layer first.
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Architecture\n"):]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\|[^|]*\| `(aetrack/[a-z_]+(?:\.py|/)|cli/)` \|", section, flags=re.M)
    rooms = [room(row.rstrip("/").removesuffix(".py").replace("/", ".")) for row in rows]
    assert sorted(rooms) == sorted(LAYER)
    assert [LAYER[r] for r in rooms] == sorted(LAYER[r] for r in rooms)


def test_inference_never_loads_training_or_the_cli(tmp_path: Path) -> None:
    # A fresh interpreter (this one has long imported everything): build both embedded trackers
    # on both engines, a model-free one, and export the synthetic model as ONNX; then no module
    # of training (aetrack.train*, aetrack.experiment, the losses) or of the CLI is loaded.
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from aetrack import Tracker
        from aetrack.backend import export_onnx
        from aetrack.model.weights import pretrained_path

        frame = np.zeros((96, 128, 3), np.uint8)
        for name in ("default", "synthetic"):
            for backend in ("torch", "onnxruntime"):
                Tracker.from_pretrained(name, backend=backend).update(frame)
        Tracker.for_detections().update_detections(boxes=np.array([[1.0, 2.0, 30.0, 40.0]]), scores=np.array([0.9]))
        export_onnx(pretrained_path("synthetic"), {str(tmp_path / "s.onnx")!r})
        training = ("aetrack.train", "aetrack.experiment", "aetrack.losses", "aetrack.yolox_loss", "cli")
        print(sorted(m for m in sys.modules if m.split(".")[0] == "cli" or m.startswith(training)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
