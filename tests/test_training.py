"""scifig's rows through real trainers, on CPU, with a tiny Qwen2-VL built from a config
(scifig_tools.tiny_models): TRL's SFTTrainer streaming `sft`, a few steps of continued pre-training on `pretraining`'s
interleaved documents, and LLaMA-Factory's own data pipeline on a `--format llamafactory` export. tests/run.sh runs
this file in .venv-train (torch with torchvision, transformers, TRL) and LLaMA-Factory in .venv-llamafactory (its own
pins)."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl", reason="the training stack is installed in .venv-train by tests/run.sh")
pytest.importorskip("torchvision", reason="transformers' Qwen2-VL processor wants torchvision (.venv-train has it)")

import scifig  # noqa: E402
from scifig_tools import export, tiny_models  # noqa: E402

from helpers import DUMMY, ROOT  # noqa: E402

LLAMAFACTORY_PYTHON = os.environ.get("SCIFIG_LLAMAFACTORY_PYTHON")  # set by tests/run.sh


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models.qwen2vl(tmp_path_factory.mktemp("tiny-qwen2-vl"))


def test_the_trl_example_fine_tunes_on_sft_and_every_image_reaches_the_model(tiny, tmp_path):
    steps = 3
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "trl_sft.py"), "--model", str(tiny), "--data-dir", str(DUMMY),
         "--max-steps", str(steps), "--output-dir", str(tmp_path / "saves")],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["losses"]) == steps and summary["finite"]
    assert summary["parameters_changed"] > 0
    rows = list(scifig.load("sft", split="train", streaming=True, data_dir=str(DUMMY)).take(steps))
    assert summary["images"] == sum(len(row["images"]) for row in rows) == steps  # batch size 1
    assert summary["image_tokens"] == summary["expected_image_tokens"] > 0


def _document(row):
    """A pre-training row as one interleaved text: each image where it stands, a sentence after another."""
    parts, images = [], []
    for text, image in zip(row["texts"], row["images"]):
        if image is not None:
            parts.append("<|vision_start|><|image_pad|><|vision_end|>")
            images.append(image.convert("RGB"))
        else:
            parts.append(text + " ")
    return "".join(parts), images


def test_pretraining_documents_train_a_tiny_interleaved_model(tiny):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny)
    model = AutoModelForImageTextToText.from_pretrained(tiny)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [parameter.detach().clone() for parameter in model.parameters()]
    image_token = model.config.image_token_id
    merge = processor.image_processor.merge_size
    losses, fed_images, row_images = [], 0, 0
    for row in scifig.load("pretraining", split="train", streaming=True, data_dir=str(DUMMY)):
        text, images = _document(row)
        batch = processor(text=[text], images=images, return_tensors="pt")
        # each image reaches the model at its place: as many image tokens as its patch grid calls for
        expected = int(batch["image_grid_thw"].prod(-1).sum()) // merge ** 2
        assert int((batch["input_ids"] == image_token).sum()) == expected
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        fed_images += len(batch["image_grid_thw"])
        row_images += sum(image is not None for image in row["images"])
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert fed_images == row_images > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


@pytest.mark.skipif(not LLAMAFACTORY_PYTHON, reason="LLaMA-Factory's environment is built by tests/run.sh")
def test_llamafactory_reads_every_row_of_the_export_with_its_images(tmp_path):
    out = tmp_path / "export"
    written = export.export(out, ["sft"], format="llamafactory", data_dir=str(DUMMY),
                            cache_dir=str(tmp_path / "cache"))
    recipe = out / "qwen2vl_lora_sft.yaml"
    result = subprocess.run([LLAMAFACTORY_PYTHON, str(ROOT / "tests" / "llamafactory_check.py"), str(out),
                             str(recipe), str(tmp_path / "work")], capture_output=True, text=True, timeout=900,
                            cwd=ROOT / "tests")
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["rows"] == read["examples"] == written["sft/train"]["rows"] == 22
    assert all(found["image_tokens"] == found["expected"] > 0 and found["labelled"] > 0 for found in read["found"])
    # and one LoRA step of the authors' recipe, by LLaMA-Factory's own trainer: a loss, an adapter saved
    assert read["step"]["adapter"] and read["step"]["steps"] == 1 and read["step"]["loss"] > 0
