"""prepare reads RecBole's sequential benchmark files: hand-made folders, and the ways they can be wrong."""

import pytest

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
            "G.train.inter": HEAD + "u1\t0\t1\nu1\t0 1\t2\nu2\t5\t6\n",
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
