"""Fine-tune a vision-language model on scifig's `sft` mixture (the MMSci authors' fine-tuning data) with TRL's
SFTTrainer, streamed straight from the archives:

    python examples/trl_sft.py --model Qwen/Qwen2-VL-2B-Instruct --max-steps 1000 --output-dir saves/scifig-sft
    python examples/trl_sft.py --model Qwen/Qwen2-VL-2B-Instruct --data-dir dummy_data --max-steps 3   # the sample

Needs `pip install trl torchvision` beside scifig (trl brings torch and transformers, not torchvision, which
transformers' Qwen2-VL processor imports for its video processor). With no download, on a tiny Qwen2-VL built from
a config (its numbers mean nothing, the plumbing runs):

    python -m scifig_tools tiny-model qwen2vl tiny-qwen2vl
    python examples/trl_sft.py --model tiny-qwen2vl --data-dir dummy_data --max-steps 3

Rows are streamed, so
training is bounded by --max-steps; train holds no validation or test article (exclude_eval_articles, the default).
It prints, as JSON, the loss at each step and what the model was fed: images, and image tokens against the number
the images' patch grids call for (a mismatch would mean an image did not reach the model whole).
"""

import argparse
import json
import math

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
from trl import SFTConfig, SFTTrainer

import scifig


class Fed:
    """What reaches the model's forward: images, their image tokens, and the tokens their grids call for."""

    def __init__(self, model, image_token_id, merge_size):
        self.images = self.image_tokens = self.expected_tokens = 0
        self._image_token_id, self._merge = image_token_id, merge_size
        model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        grid = kwargs.get("image_grid_thw")
        if grid is not None and module.training:
            self.images += len(grid)
            self.expected_tokens += int(grid.prod(dim=-1).sum()) // self._merge ** 2
            self.image_tokens += int((kwargs["input_ids"] == self._image_token_id).sum())


class Losses(TrainerCallback):
    def __init__(self):
        self.losses = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def train(model, processor, rows, max_steps, output_dir, learning_rate=1e-4, batch_size=1, max_length=4096):
    """Fine-tunes `model` on `rows` (an IterableDataset of the chat layout) for `max_steps`; returns a summary."""
    fed = Fed(model, model.config.image_token_id, processor.image_processor.merge_size)
    losses = Losses()
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    config = SFTConfig(output_dir=output_dir, max_steps=max_steps, per_device_train_batch_size=batch_size,
                       learning_rate=learning_rate, logging_steps=1, max_length=max_length, report_to="none",
                       save_strategy="no", use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=config, train_dataset=rows.select_columns(["images", "messages"]),
                         processing_class=processor, callbacks=[losses])
    trainer.train()
    changed = sum(not torch.equal(before[name], parameter.detach()) for name, parameter in model.named_parameters())
    return {"losses": losses.losses, "finite": all(math.isfinite(loss) for loss in losses.losses),
            "parameters_changed": changed, "images": fed.images, "image_tokens": fed.image_tokens,
            "expected_image_tokens": fed.expected_tokens}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a Qwen2-VL-style model: its Hub id or a local folder")
    parser.add_argument("--data-dir", help="folder of MMSci's archives (dummy_data: the bundled sample)")
    parser.add_argument("--base-url", help="a mirror serving MMSci's archives")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--output-dir", default="saves/scifig-sft")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    args = parser.parse_args(argv)
    processor = AutoProcessor.from_pretrained(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model)
    rows = scifig.load("sft", split="train", streaming=True, data_dir=args.data_dir, base_url=args.base_url)
    print(json.dumps(train(model, processor, rows, args.max_steps, args.output_dir, args.learning_rate)))


if __name__ == "__main__":
    main()
