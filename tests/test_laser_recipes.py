"""Laser's named recipes: the paper's recipes build the paper's class with none of laserrec's additions,
the default recipe builds LaserPlus, LaserPlus with every addition off computes what Laser does, and
options this version retired are refused by name in a saved run unless they hold their "off" value."""

import pytest
import torch

from conftest import FakeCF
from laser_fixtures import HISTORY, ITEMS, N_ITEMS, TARGET
from laserrec.errors import ConfigError
from laserrec.models.base import Batch
from laserrec.models.laser.model import Laser
from laserrec.models.laser.plus import LaserPlus, LaserPlusConfig, laser_class
from laserrec.training.loading import saved_model_config
from laserrec.training.runs import resolve_configs
from test_cli import run

TINY = {"llm": "tiny", "dtype": "fp32", "n_prefix": 3, "n_experts": 3, "top_k": 2, "d_model": 16}
TINY.update(n_heads=2, max_history=4, max_prompt_tokens=128, encode_batch_size=4, dropout=0.0)


@pytest.mark.parametrize("recipe", ["paper", "paper-cpu"])
def test_the_paper_recipes_build_the_papers_class_with_no_addition_and_no_warmup(recipe):
    config, train = resolve_configs("laser", {}, {}, recipe)
    assert laser_class(config) is Laser and not config.has_additions
    assert config.warmup_epochs == 0 and config.distill == 0 and not config.repeat_bias
    if recipe == "paper":  # the published sizes
        sizes = (config.n_experts, config.n_prefix, config.top_k, config.n_blocks, config.d_model)
        assert sizes == (8, 32, 3, 12, 768) and config.n_heads == 12 and config.max_history == 10
        assert train.samples_per_epoch == 0 and train.valid_users == 0


def test_the_default_recipe_is_laserrec_with_its_additions():
    config, train = resolve_configs("laser", {}, {})
    assert laser_class(config) is LaserPlus
    assert (config.llm, config.cf_input, config.negatives, config.warmup_epochs) == ("minilm", "last", 16, 4)
    assert config.distill == 1 and config.repeat_bias and train.min_epochs == 8
    # the command line still wins over the recipe
    config, _ = resolve_configs("laser", {}, {"negatives": "8", "llm": "smollm2"})
    assert (config.negatives, config.llm) == (8, "smollm2")
    with pytest.raises(ConfigError, match="unknown recipe 'cpu'"):
        resolve_configs("laser", {}, {}, "cpu")


def test_config_command_prints_a_recipes_resolved_values():
    code, out = run("config", "laser", "--recipe", "paper")
    assert code == 0, out
    rows = {line.split()[0].lstrip("*"): line.split()[1] for line in out.splitlines() if line.startswith(" ")}
    assert rows["n_experts"] == "8" and rows["n_prefix"] == "32" and rows["warmup_epochs"] == "0"
    assert "[laser model additions (not in the paper)]" in out and "recipe: paper" in out
    code, out = run("config", "laser")
    assert code == 0 and "recipe: laserrec" in out and " *negatives" in out


def test_laserplus_with_every_addition_off_computes_what_the_papers_laser_does(backbone):
    def build(cls):
        torch.manual_seed(0)
        return cls(LaserPlusConfig(**TINY), N_ITEMS, ITEMS, backbone, cf=FakeCF(N_ITEMS)).eval()

    paper, plus = build(Laser), build(LaserPlus)
    for model in (paper, plus):
        model.set_phase(1)
        model.on_epoch_start(0)
    batch = Batch(HISTORY, TARGET)
    assert torch.equal(paper.full_sort_predict(batch), plus.full_sort_predict(batch))
    (paper_loss, paper_logs), (plus_loss, plus_logs) = paper.calculate_loss(batch), plus.calculate_loss(batch)
    assert paper_loss.item() == plus_loss.item() and paper_logs == plus_logs
    assert set(paper.trainable_state_dict()) == set(plus.trainable_state_dict())


def test_a_saved_run_with_a_retired_option_loads_only_when_it_was_off():
    saved = {"n_prefix": 4, "mformer_lr_scale": 1.0, "head": False}
    assert saved_model_config("laser", saved) == {"n_prefix": 4}
    with pytest.raises(ConfigError, match="head=True"):
        saved_model_config("laser", {"head": True})
