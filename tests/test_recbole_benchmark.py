"""prepare reads RecBole's sequential benchmark files: hand-made folders, and the ways they can be wrong."""

import pytest

from laserrec.data.dataset import leave_one_out
from laserrec.data.prepare import prepare_dataset
from laserrec.data.readers import detect_format, read_dataset
from laserrec.errors import DataError

HEAD = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
T, V = "G.test.inter", "G.valid.inter"
ITEMS = "item_id:token\ttitle:token_seq\n" + "".join(f"{i}\tgame {i}\n" for i in range(7))


def write(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def benchmark(tmp_path, **changes):
    files = {
        "G.test.inter": HEAD + "u1\t0 1 2 3\t4\nu2\t5 6\t0\n",
        "G.valid.inter": HEAD + "u1\t0 1 2\t3\nu2\t5\t6\n",
        "Games.item": ITEMS,
    }
    files.update(changes)
    return write(tmp_path / "raw", {k: v for k, v in files.items() if v is not None})


def test_the_full_sequence_is_the_test_history_and_target(tmp_path):
    data = read_dataset(benchmark(tmp_path))
    assert data.meta["format"] == "recbole-benchmark"
    assert data.user_ids == ["u1", "u2"]
    # items renumbered in order of first appearance: raw 0 1 2 3 4 | 5 6 0
    assert [s.tolist() for s in data.sequences] == [[1, 2, 3, 4, 5], [6, 7, 1]]
    assert data.item_ids == ["0", "1", "2", "3", "4", "5", "6"]
    assert data.items[5].title == "game 4"
    assert sorted(data.meta["files"]) == ["G.test.inter", "G.valid.inter", "Games.item"]


def test_train_rows_every_prefix_and_a_text_file(tmp_path):
    folder = benchmark(
        tmp_path,
        **{
            "G.train.inter": HEAD + "u1\t0\t1\nu1\t0 1\t2\n",
            "Games.item": None,
            "G.text": "item_id:token\ttext:token_seq\n" + "".join(f"{i}\tthing {i}\n" for i in range(7)),
        },
    )
    data = read_dataset(folder)
    assert [s.tolist() for s in data.sequences] == [[1, 2, 3, 4, 5], [6, 7, 1]]
    assert data.items[1].title == "thing 0"


def test_without_item_text_the_items_have_none(tmp_path):
    data = read_dataset(benchmark(tmp_path, **{"Games.item": None}))
    assert data.n_items == 7 and not data.items[1].title


def test_detected_apart_from_recbole_atomic_files(tmp_path):
    assert detect_format(benchmark(tmp_path)) == "recbole-benchmark"
    atomic_file = "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\n"
    atomic = write(tmp_path / "atomic", {"a.inter": atomic_file})
    assert detect_format(atomic) == "recbole"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({V: HEAD + "u1\t0 2\t3\nu2\t5\t6\n"}, r"G.valid.inter, line 2: user 'u1'.*not a prefix"),
        ({V: HEAD + "u3\t0\t1\n"}, r"G.valid.inter, line 2: user 'u3' has no row in G.test.inter"),
        (
            {V: HEAD + "u1\t0 1\t2\nu2\t5\t6\n"},
            r"G.valid.inter, line 2: user 'u1''s valid target is not the item before",
        ),
        (
            {"G.train.inter": HEAD + "u2\t5\t6\n"},
            r"G.train.inter, line 2: user 'u2''s train target is not an item before",
        ),
        ({T: HEAD + "u1\t0 1\t2\nu1\t0\t1\n"}, r"G.test.inter, line 3: user 'u1' has a second row"),
        ({T: "user_id:token\titem_id:token\nu1\t2\n"}, r"G.test.inter, line 1: missing column"),
        ({T: HEAD + "u1\t0 1\n"}, r"G.test.inter, line 2: 2 tab-separated fields"),
        ({T: HEAD}, r"G.test.inter: no data rows"),
        ({T: HEAD + "u1\t0 9\t1\n"}, r"G.test.inter, line 2: item '9' \(user 'u1'\) has no entry in .*Games"),
        ({"Games.item": None, "G.text": "0 no tab here\n"}, r"G.text, line 1: expected item_id<TAB>text"),
    ],
)
def test_bad_files_stop_with_the_file_and_line(tmp_path, changes, message):
    with pytest.raises(DataError, match=message):
        prepare_dataset(benchmark(tmp_path, **changes), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


# ---------------------------------------------------------------------- UniSRec's layout
def asin(i: int) -> str:
    return f"B{i:09d}"


# user token -> ASINs, oldest first: one user cut at 50 (55 items before the test target), one whose
# valid history alone reaches 50 (51 items before the test target), one short user
SEQUENCES = {
    "A3SHORT": [asin(i) for i in (1, 2, 3, 4, 5)],
    "A1LONG": [asin(i) for i in range(10, 66)],
    "A2EDGE": [asin(i) for i in (2, *range(100, 150), 3)],
}


def unisrec_files(sequences: dict[str, list[str]], cut: int = 50) -> dict[str, str]:
    """What UniSRec's dataset/preprocessing/process_amazon.py writes for these sequences: user and item
    indices from 0 in order of first appearance; train one row per prefix of all but the last two items,
    longest first, valid = those items -> the second to last, test = all but the last -> the last, every
    history cut to its newest ``cut`` items; X.text keyed by ASIN (header, text ending in a space) and the
    token<TAB>index maps without a header."""
    users, items = {}, {}
    for user, seq in sequences.items():
        users.setdefault(user, str(len(users)))
        for item in seq:
            items.setdefault(item, str(len(items)))
    train, valid, test = HEAD, HEAD, HEAD
    for user, seq in sequences.items():
        u, ids = users[user], [items[i] for i in seq]
        body = ids[:-2]
        for k in range(1, len(body)):
            train += f"{u}\t{' '.join(body[:-k][-cut:])}\t{body[-k]}\n"
        valid += f"{u}\t{' '.join(body[-cut:])}\t{ids[-2]}\n"
        test += f"{u}\t{' '.join(ids[:-1][-cut:])}\t{ids[-1]}\n"
    text = "item_id:token\ttext:token_seq\n" + "".join(
        f"{item}\tTitle {item}. Tools. Acme. \n" for item in sorted(items, reverse=True)
    )
    return {
        "Scientific.train.inter": train,
        "Scientific.valid.inter": valid,
        "Scientific.test.inter": test,
        "Scientific.text": text,
        "Scientific.item2index": "".join(f"{t}\t{i}\n" for t, i in items.items()),
        "Scientific.user2index": "".join(f"{t}\t{i}\n" for t, i in users.items()),
        "Scientific.feat1CLS": "(binary text embeddings, not read)",
    }


def test_the_unisrec_writer_here_writes_what_its_script_does():
    files = unisrec_files({"A3SHORT": SEQUENCES["A3SHORT"]})
    assert files["Scientific.train.inter"] == HEAD + "0\t0 1\t2\n0\t0\t1\n"  # longest prefix first
    assert files["Scientific.valid.inter"] == HEAD + "0\t0 1 2\t3\n"
    assert files["Scientific.test.inter"] == HEAD + "0\t0 1 2 3\t4\n"
    assert files["Scientific.item2index"].splitlines()[0] == "B000000001\t0"
    long = unisrec_files({"A1LONG": SEQUENCES["A1LONG"]})["Scientific.test.inter"].splitlines()[1]
    assert long.split("\t")[1].split() == [str(i) for i in range(5, 55)]  # 55 items before: cut to 50


def test_unisrec_layout_reads_original_ids_and_rebuilds_cut_histories(tmp_path):
    data = read_dataset(write(tmp_path / "Scientific", unisrec_files(SEQUENCES)))
    assert data.user_ids == ["A3SHORT", "A1LONG", "A2EDGE"]
    raw = [[data.item_ids[i - 1] for i in seq.tolist()] for seq in data.sequences]
    assert raw == list(SEQUENCES.values())  # 5, 56 and 53 items: the two cut ones whole again
    assert data.items[data.item_ids.index(asin(12)) + 1].title == "Title B000000012. Tools. Acme."
    assert set(data.meta["files"]) >= {"Scientific.item2index", "Scientific.user2index"}
    # the given split kept: validation and test targets are the files' own
    split = leave_one_out(data)
    targets = [[data.item_ids[i - 1] for i in part.targets.tolist()] for part in (split.valid, split.test)]
    assert targets == [[s[-2] for s in SEQUENCES.values()], [s[-1] for s in SEQUENCES.values()]]


def test_unisrec_layout_without_its_train_rows_or_maps_says_what_is_missing(tmp_path):
    files = unisrec_files(SEQUENCES)
    folder = write(tmp_path / "a", {**files, "Scientific.train.inter": HEAD + "0\t0 1\t2\n0\t0\t1\n"})
    with pytest.raises(DataError, match=r"test.inter, line 3: user 'A1LONG''s history is cut to 50 items"):
        read_dataset(folder)
    folder = write(tmp_path / "b", {k: v for k, v in files.items() if not k.endswith("2index")})
    with pytest.raises(
        DataError, match=r"test.inter, line 2: item '0' \(user '0'\) has no entry.*item2index"
    ):
        read_dataset(folder)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "Scientific.item2index",
            lambda t: t.replace("B000000003\t2\n", ""),
            r"test.inter, line 2: item '2' is not in Scientific.item2index",
        ),
        (
            "Scientific.item2index",
            lambda t: t.replace("\t2\n", " 2\n"),
            r"item2index, line 3: expected token<TAB>index",
        ),
        (
            "Scientific.item2index",
            lambda t: t.replace("\t3\n", "\t2\n"),
            r"item2index, line 4: index 2 is already 'B000000003'",
        ),
        (
            "Scientific.user2index",
            lambda t: t.replace("A1LONG\t1", "A3SHORT\t1"),
            r"user2index, line 2: 'A3SHORT' already has",
        ),
        (
            "Scientific.train.inter",
            lambda t: t.replace("\t38\n", "\t39\n"),
            r"train.inter, line \d+: user 'A1LONG''s row does not continue",
        ),
    ],
)
def test_unisrec_layout_errors_name_the_file_and_line(tmp_path, name, change, message):
    files = unisrec_files(SEQUENCES)
    folder = write(tmp_path / "raw", {**files, name: change(files[name])})
    with pytest.raises(DataError, match=message):
        prepare_dataset(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()
