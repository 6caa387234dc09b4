"""Run inside open_flamingo's own environment (tests/run.sh builds .venv-flamingo): its mmc4 loader, the wheel's
open_flamingo/train/data.py (preprocess_interleaved and get_mmc4_dataset), on a `--format webdataset` export, at
the settings of open_flamingo's README (similarity threshold 0.24, 1 to 6 images, 256 tokens), with a tokenizer and
a CLIP image processor built here (nothing downloaded). Prints what it read as JSON.

    python tests/flamingo_check.py EXPORT_FOLDER   # the folder of shard-NNNNNN.tar

Only data.py is imported: the package's __init__ builds models (open_clip, einops) a loader does not need.
"""

import argparse
import base64
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPImageProcessor, PreTrainedTokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # scifig_tools (its tiny models import no scifig)

from scifig_tools.tiny_models import byte_level_bpe  # noqa: E402

SETTINGS = {"sim_threshold": 0.24, "min_num_images": 1, "max_num_images": 6, "max_tokens": 256}  # the README's


def open_flamingo_data():
    """open_flamingo/train/data.py of the installed package, imported alone (it imports data_utils beside it)."""
    train = Path(importlib.util.find_spec("open_flamingo").submodule_search_locations[0]) / "train"
    sys.path.insert(0, str(train))
    spec = importlib.util.spec_from_file_location("open_flamingo_data", train / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tokenizer():
    made = PreTrainedTokenizerFast(tokenizer_object=byte_level_bpe(["<unk>", "</s>"]), eos_token="</s>",
                                   unk_token="<unk>")
    made.add_special_tokens({"additional_special_tokens": ["<|endofchunk|>", "<image>"]})  # as its factory.py does
    made.add_special_tokens({"pad_token": "<PAD>"})
    return made


def main(folder):
    data, words = open_flamingo_data(), tokenizer()
    clip = CLIPImageProcessor()  # 224 pixels, OpenAI's mean and deviation: no download

    def processor(image):
        return clip(images=image, return_tensors="pt")["pixel_values"][0]

    tars = sorted(Path(folder).glob("shard-*.tar"))
    documents = []
    for path in tars:
        with tarfile.open(path) as archive:
            documents += [archive.extractfile(member).read() for member in archive.getmembers()
                          if member.name.endswith(".json")]
    found = []
    for raw in documents:
        document = json.loads(raw)
        images, (ids, mask) = data.preprocess_interleaved((raw,), tokenizer=words, clip_processor=processor,
                                                          **SETTINGS)
        kept = int((images.flatten(1).abs().sum(1) > 0).sum())
        expected = [processor(Image.open(io.BytesIO(base64.b64decode(info["image_base64"]))).convert("RGB"))
                    for info in document["image_info"]][:SETTINGS["max_num_images"]]
        same = all(torch.allclose(got, want) or torch.allclose(got, want.flip(-1))  # a random horizontal flip
                   for got, want in zip(images[:kept], expected))
        text = words.decode(ids[0][mask[0].bool()])
        found.append({"images": kept, "expected_images": len(expected), "pixels": same,
                      "image_tokens": int((ids == words.convert_tokens_to_ids("<image>")).sum()),
                      "first_sentence": document["text_list"][0] in text})
    pattern = str(Path(folder) / ("shard-{%06d..%06d}.tar" % (0, len(tars) - 1)))
    arguments = argparse.Namespace(mmc4_shards=pattern, train_num_samples_mmc4=len(documents), batch_size_mmc4=1,
                                   workers=1, world_size=1, seed=0, dataset_resampled=False,
                                   mmc4_textsim_threshold=SETTINGS["sim_threshold"],
                                   mmc4_min_num_images=SETTINGS["min_num_images"],
                                   mmc4_max_num_images=SETTINGS["max_num_images"])
    loader = data.get_mmc4_dataset(arguments, processor, words, epoch=0).dataloader
    batches = [batch for batch in loader]
    print(json.dumps({"documents": len(documents), "found": found, "loader_samples": sum(len(b[1]) for b in batches),
                      "loader_images": [tuple(b[0].shape) for b in batches]}))


if __name__ == "__main__":
    main(sys.argv[1])
