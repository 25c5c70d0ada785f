"""``discofold models`` prints every registered model with counts that match built models."""

from discofold.cli import main
from discofold.models import build, count_parameters, get_spec, list_models


def test_models_verb_lists_every_model_with_its_counts(capsys):
    assert main(["models", "--family", "mri"]) == 0
    out = capsys.readouterr().out.split("\n\n")[0]  # the models; the bundled checkpoints follow
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()[2:] if "|" in line}
    assert set(rows) == set(list_models("mri"))
    # E2E-VarNet, 12 cascades x 18 channels (fastMRI): 29.9 M
    assert "29,936,966" in rows["varnet"]
    tiny = count_parameters(build("unet", **get_spec("unet").tiny))
    assert tiny < 10_000 and f"{count_parameters(build('fno')):,}" in rows["fno"]
