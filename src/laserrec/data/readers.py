"""Read any supported raw format into a ``PreparedData``; the format is detected from the file names.

=================  ================================================  ====================================
format             interaction file                                  item text file (same folder)
=================  ================================================  ====================================
lcrec              ``X.inter.json`` ``{user: [item, ...]}``           ``X.item.json`` (required)
recbole            ``X.inter`` (RecBole atomic, tab-separated)       ``X.item`` (optional)
recbole-benchmark  ``X.test.inter`` (+ ``X.train.inter``,            ``X.item`` or ``X.text``, else the
                   ``X.valid.inter``, UniSRec's ``X.item2index``     only one (optional)
                   and ``X.user2index``): RecBole's sequential split
amazon             ``<Cat>_5.json[.gz]`` (Amazon 2018 reviews)       ``meta_<Cat>.json[.gz]`` (required)
csv                ``X.csv`` (user, item, timestamp columns)         ``X.jsonl`` or the only ``*.jsonl``
=================  ================================================  ====================================

``source`` is the folder holding the files, or the interaction file itself (needed when a folder holds
several). Filtering and id remapping are the same for every format: see ``laserrec.data.build``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from laserrec.data import columnar
from laserrec.data.build import build_prepared
from laserrec.data.dataset import PreparedData
from laserrec.data.formats import amazon, csv_jsonl, lcrec, recbole, recbole_benchmark
from laserrec.data.io import sha256
from laserrec.data.raw import RawData
from laserrec.errors import ConfigError, DataError


@dataclass(frozen=True)
class Format:
    name: str
    inter_globs: tuple[str, ...]
    text_globs: tuple[str, ...]
    text_required: bool
    companions: Callable[[str], list[str]]  # interaction file name -> the text file names it pairs with
    parse: Callable[[Path, Path | None], RawData]
    exclude_globs: tuple[str, ...] = ()  # interaction files of another format that inter_globs also match

    def describe(self) -> str:
        text = " or ".join(self.text_globs)
        return f"{' or '.join(self.inter_globs)} + {text if self.text_required else f'optional {text}'}"


def _same_stem(inter_suffix: str, text_suffix: str) -> Callable[[str], list[str]]:
    return lambda name: [name.removesuffix(inter_suffix) + text_suffix]


def _amazon_meta(name: str) -> list[str]:
    category = name.split(".")[0].removesuffix("_5")
    return [f"meta_{category}.json.gz", f"meta_{category}.json"]


_LCREC = Format(
    "lcrec", ("*.inter.json",), ("*.item.json",), True, _same_stem(".inter.json", ".item.json"), lcrec.parse
)
_BENCHMARK = ("*.train.inter", "*.valid.inter", "*.test.inter")
_RECBOLE = Format(
    "recbole", ("*.inter",), ("*.item",), False, _same_stem(".inter", ".item"), recbole.parse, _BENCHMARK
)
_RECBOLE_BENCHMARK = Format(
    "recbole-benchmark",
    ("*.test.inter",),
    ("*.item", "*.text"),
    False,
    recbole_benchmark.companions,
    recbole_benchmark.parse,
)
_AMAZON = Format(
    "amazon", ("*_5.json", "*_5.json.gz"), ("meta_*.json", "meta_*.json.gz"), True, _amazon_meta, amazon.parse
)
_CSV = Format("csv", ("*.csv",), ("*.jsonl",), True, _same_stem(".csv", ".jsonl"), csv_jsonl.parse)
FORMATS: dict[str, Format] = {f.name: f for f in (_LCREC, _RECBOLE, _RECBOLE_BENCHMARK, _AMAZON, _CSV)}


def _glob(folder: Path, patterns: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[Path]:
    found = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}
    return sorted(p for p in found if not any(fnmatchcase(p.name, g) for g in exclude))


def _exists(source: Path) -> Path:
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    return source


def detect_format(source: Path) -> str:
    """The name of the one format whose interaction file is ``source`` or lies in the folder ``source``."""
    source = _exists(source)
    if source.is_file():
        found = [f.name for f in FORMATS.values() if _matches(source.name, f)]
    else:
        found = [f.name for f in FORMATS.values() if _glob(source, f.inter_globs, f.exclude_globs)]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(
            f"{source}: files of several formats ({', '.join(found)}); choose one with the format option"
        )
    looked = "; ".join(f"{f.name}: {f.describe()}" for f in FORMATS.values())
    names = sorted(p.name for p in source.iterdir())[:10] if source.is_dir() else [source.name]
    raise DataError(
        f"{source}: cannot tell the data format. Looked for {looked}. Found: {names or 'no files'}"
    )


def _matches(name: str, fmt: Format) -> bool:
    return any(fnmatchcase(name, g) for g in fmt.inter_globs) and not any(
        fnmatchcase(name, g) for g in fmt.exclude_globs
    )


def find_files(source: Path, fmt: Format) -> tuple[Path, Path | None]:
    """The interaction file and its item text file (None only when the format allows no text)."""
    source = _exists(source)
    folder = source if source.is_dir() else source.parent
    if source.is_dir():
        inters = _glob(folder, fmt.inter_globs, fmt.exclude_globs)
        if len(inters) != 1:
            what = "no" if not inters else f"{len(inters)} ({', '.join(p.name for p in inters)})"
            raise DataError(
                f"{source}: {what} {fmt.name} interaction files ({' or '.join(fmt.inter_globs)}); "
                "give the interaction file itself as the source when there are several"
            )
        source = inters[0]
    paired = [folder / n for n in fmt.companions(source.name) if (folder / n).is_file()]
    texts = paired or _glob(folder, fmt.text_globs)
    if len(texts) == 1 or paired:
        return source, texts[0]
    if not texts and not fmt.text_required:
        return source, None
    what = "no" if not texts else f"several ({', '.join(p.name for p in texts)}), none named"
    wanted = " or ".join(fmt.companions(source.name))
    raise DataError(f"{folder}: {what} item text file for {source.name} (expected {wanted})")


def read_dataset(
    source: Path,
    fmt: str | None = None,
    *,
    name: str | None = None,
    min_core: int = 0,
    dedup: bool = False,
    min_length: int = 1,
) -> PreparedData:
    """Read, validate, filter and remap a raw dataset; nothing is written.

    ``meta`` gets ``source``, ``format``, ``files`` (name -> sha256), ``options``, ``warnings`` (counts
    of oddities found and handled) and ``filtering`` (counts removed by ``dedup`` / ``min_core``).
    """
    source = _exists(source)
    fmt = fmt or detect_format(source)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
    inter, text = find_files(source, FORMATS[fmt])
    name = name or inter.name.split(".")[0]
    options = {"min_core": min_core, "dedup": dedup, "min_length": min_length}
    data = columnar.read_csv(inter, text, name, **options) if fmt == "csv" else None
    if data is None:  # the row-by-row path: every format, and any CSV the columnar path cannot vouch for
        data = build_prepared(FORMATS[fmt].parse(inter, text), name, **options)
    read = [inter, text]
    if fmt == "recbole-benchmark":  # the train and valid files and the id maps read beside the test file
        splits, maps = recbole_benchmark.siblings(inter)
        read = [*splits, *read, *maps]
    files = {p.name: sha256(p) for p in read if p is not None}
    data.meta = {"source": str(source.resolve()), "format": fmt, "files": files, **data.meta}
    return data
