"""Fuzzing of nmgraph's files: mutate saved networks (.nmg), Executables (.nmx) and snapshots
(.nms) and check that every outcome is a clean ``FileFormatError``/``ValidationError`` or a file
that runs bit-identically to the reference simulator.

Run it as a script for a large campaign (it prints the outcome counts)::

    .venv/bin/python tests/fuzz/fuzz_files.py --count 2000 --seed 1

The test suite runs a small number of cases (``tests/test_untrusted_files.py``), and more under
the ``slow`` mark.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from netgen import random_network  # noqa: E402

import nmgraph as nm  # noqa: E402
from nmgraph.compilers.executable_io import load_executable, save_executable  # noqa: E402

KINDS = ("network", "executable", "snapshot")
MUTATIONS = ("truncate", "flip", "array", "json", "header")
STEPS = 15


def originals(folder: Path, seed: int = 3) -> dict[str, Path]:
    """One valid file of each kind, from a small random network."""
    net = random_network(seed, max_size=12, max_delay=4)
    exe = nm.compile(net, hardware="loihi1", max_neurons_per_core=5)
    paths = {"network": folder / "net.nmg", "executable": folder / "exe.nmx",
             "snapshot": folder / "run.nms"}
    net.save(paths["network"])
    save_executable(exe, paths["executable"])
    with nm.Runtime(exe, backend="reference") as rt:
        rt.run(7)
        rt.snapshot(paths["snapshot"])
    return paths


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _edit_array(array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    choice = rng.integers(6)
    if array.size == 0 or choice == 0:
        return np.append(array.ravel(), rng.integers(-5, 5)).astype(array.dtype)
    flat = array.copy().ravel()
    index = rng.integers(flat.size)
    if choice == 1:
        flat[index] = flat[index] + rng.choice([-1, 1])
    elif choice == 2 and flat.dtype.kind in "iu":
        info = np.iinfo(flat.dtype)
        flat[index] = rng.choice([info.min, info.max, 0])
    elif choice == 3:
        return flat[: rng.integers(flat.size)].reshape(-1)
    elif choice == 4:
        return flat.astype(rng.choice([np.float64, np.int8, np.uint64, np.int32]))
    else:
        with np.errstate(over="ignore"):
            flat[index] = -flat[index] - 1 if flat.dtype.kind != "b" else not flat[index]
    return flat.reshape(array.shape)


def _edit_json(value, rng: np.random.Generator, depth: int = 0):
    if isinstance(value, dict) and value:
        key = list(value)[rng.integers(len(value))]
        if rng.random() < 0.15:
            value.pop(key)
        elif rng.random() < 0.5 or depth > 6:
            value[key] = [10**20, -1, "x", None, [], {"a": 1}, 0, 2**40][rng.integers(8)]
        else:
            value[key] = _edit_json(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value:
        index = rng.integers(len(value))
        value[index] = _edit_json(value[index], rng, depth + 1)
        return value
    return [10**20, -1, "x", None, -(2**63), 3.5][rng.integers(6)]


def mutate(data: bytes, rng: np.random.Generator, mutation: str) -> bytes:
    """``data`` (a valid file) changed by one mutation."""
    if mutation == "truncate":
        return data[: rng.integers(len(data))]
    if mutation == "flip":
        out = bytearray(data)
        for _ in range(rng.integers(1, 9)):
            out[rng.integers(len(out))] ^= 1 << rng.integers(8)
        return bytes(out)
    members = _members(data)
    names = [n for n in members if n.endswith(".npy")]
    if mutation == "array":
        name = names[rng.integers(len(names))]
        array = np.lib.format.read_array(io.BytesIO(members[name]), allow_pickle=False)
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, _edit_array(array, rng))
        members[name] = buffer.getvalue()
    elif mutation == "json":
        name = next(n for n in members if n.endswith(".json"))
        document = json.loads(members[name])
        if rng.random() < 0.1:   # nesting deep enough to exhaust a recursive parser
            members[name] = ("[" * 100_000 + "]" * 100_000).encode()
        else:
            members[name] = json.dumps(_edit_json(document, rng)).encode()
    else:   # an .npy header that announces far more data than there is
        name = names[rng.integers(len(names))]
        header = {"descr": "<i8", "fortran_order": False, "shape": (int(10**rng.integers(6, 13)),)}
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        members[name] = buffer.getvalue() + b"\0" * 64
    return _zip(members)


def _same_run(a: nm.Runtime, b: nm.Runtime, names: list[str]) -> bool:
    return all(a.spikes(name) == b.spikes(name) for name in names)


def outcome(path: Path, kind: str, workers: int = 2) -> str:
    """``"rejected"`` (a clean FileFormatError/ValidationError), ``"identical"`` (loaded, and
    runs bit-identically on the reference and multi-core backends) or ``"DIFFERENT"``; any other
    exception propagates (a finding)."""
    try:
        if kind == "network":
            net = nm.load(path)
            exe = nm.compile(net, hardware="generic", max_neurons_per_core=6)
            reference, multicore = (nm.Runtime(exe, backend="reference"),
                                    nm.Runtime(exe, workers=workers))
        elif kind == "executable":
            exe = load_executable(path)
            reference, multicore = (nm.Runtime(exe, backend="reference"),
                                    nm.Runtime(exe, workers=workers))
        else:
            reference = nm.Runtime.restore(path, backend="reference")
            multicore = nm.Runtime.restore(path, workers=workers)
    except (nm.FileFormatError, nm.ValidationError, nm.MappingError):
        return "rejected"
    with reference, multicore:
        reference.run(STEPS)
        multicore.run(STEPS)
        names = [pop.name for pop in reference.ir.populations]
        return "identical" if _same_run(reference, multicore, names) else "DIFFERENT"


def campaign(count: int, seed: int, folder: Path) -> collections.Counter:
    """``count`` mutated files, kinds and mutations in turn; returns the outcome counts."""
    paths = originals(folder)
    data = {kind: path.read_bytes() for kind, path in paths.items()}
    rng = np.random.default_rng(seed)
    counts: collections.Counter = collections.Counter()
    for number in range(count):
        kind = KINDS[number % len(KINDS)]
        mutation = MUTATIONS[(number // len(KINDS)) % len(MUTATIONS)]
        target = folder / f"case{number % 4}{paths[kind].suffix}"
        target.write_bytes(mutate(data[kind], rng, mutation))
        try:
            result = outcome(target, kind, workers=1 + number % 2)
        except Exception as exc:  # a finding: kept, with the file, and reported
            result = f"ERROR {type(exc).__name__}: {exc}"[:160]
            keep = folder / f"finding{number}{paths[kind].suffix}"
            keep.write_bytes(target.read_bytes())
            print(f"finding {number} ({kind}, {mutation}): {keep}\n"
                  + "".join(traceback.format_exception(exc)[-4:]), file=sys.stderr)
        if result == "DIFFERENT":
            keep = folder / f"different{number}{paths[kind].suffix}"
            keep.write_bytes(target.read_bytes())
            print(f"different {number} ({kind}, {mutation}): {keep}", file=sys.stderr)
        counts[(kind, mutation, result)] += 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="folder for the files (findings are kept there); default: temporary")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        counts = campaign(args.count, args.seed, args.keep)
    else:
        with tempfile.TemporaryDirectory() as folder:
            counts = campaign(args.count, args.seed, Path(folder))
    total = collections.Counter()
    for (kind, mutation, result), n in sorted(counts.items()):
        print(f"{kind:10s} {mutation:8s} {result:9s} {n}")
        total[result] += n
    print("total:", dict(total))
    bad = {k: n for k, n in total.items() if k not in ("rejected", "identical")}
    if bad:
        raise SystemExit(f"findings: {bad}")


if __name__ == "__main__":
    main()
