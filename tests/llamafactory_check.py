"""Run inside LLaMA-Factory's own environment (tests/run.sh builds .venv-llamafactory): its data pipeline, its
qwen2_vl template and its multimodal checks on a `--format llamafactory` export, driven by the export's own recipe
(the model swapped for the tiny one scifig_tools.tiny_models builds, bf16 off on CPU). Prints what it read as JSON.

    python tests/llamafactory_check.py EXPORT_DIR RECIPE_YAML WORK_DIR
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # scifig_tools (its tiny models import no scifig)

import yaml  # noqa: E402
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer  # noqa: E402
from llamafactory.hparams import get_train_args  # noqa: E402
from llamafactory.model import load_tokenizer  # noqa: E402
from PIL import Image  # noqa: E402

from scifig_tools import tiny_models  # noqa: E402


def main(export_dir, recipe, work):
    work = Path(work)
    model = tiny_models.qwen2vl(work / "tiny-qwen2-vl")
    arguments = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
    arguments.update(model_name_or_path=str(model), output_dir=str(work / "saves"), bf16=False,
                     preprocessing_num_workers=None, report_to="none")
    model_args, data_args, training_args, _, _ = get_train_args(arguments)
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    train = module["train_dataset"]
    processor = tokenizer_module["processor"]
    image_token = tokenizer_module["tokenizer"].convert_tokens_to_ids("<|image_pad|>")
    examples = json.loads((Path(export_dir) / f"{arguments['dataset'].removeprefix('scifig_')}.json").read_text())
    found = []
    for example, processed in zip(examples, train):
        expected = 0
        for path in example["images"]:
            grid = processor.image_processor(images=[Image.open(Path(export_dir) / path).convert("RGB")],
                                             return_tensors="np")["image_grid_thw"]
            expected += int(grid.prod()) // processor.image_processor.merge_size ** 2
        found.append({"image_tokens": processed["input_ids"].count(image_token), "expected": expected,
                      "labelled": sum(label != -100 for label in processed["labels"])})
    print(json.dumps({"rows": len(train), "examples": len(examples), "found": found, "step": one_step(arguments)}))


def one_step(arguments):
    """One optimizer step of the recipe's LoRA fine-tuning, through LLaMA-Factory's own run_exp: the adapter it
    saves and the loss it logs."""
    from llamafactory.train.tuner import run_exp

    output = Path(arguments["output_dir"])
    run_exp(args={**arguments, "max_steps": 1, "logging_steps": 1, "save_steps": 1, "gradient_accumulation_steps": 2,
                  "plot_loss": False})
    logged = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text().splitlines()]
    return {"adapter": (output / "adapter_model.safetensors").is_file(), "loss": logged[0].get("loss"),
            "steps": logged[-1].get("current_steps")}


if __name__ == "__main__":
    main(*sys.argv[1:])
