"""The export formats trainers read as they are, besides the Hub's Parquet folder (scifig_tools.export):

    python -m scifig_tools export OUT --format llamafactory --configs sft     # LLaMA-Factory (sharegpt + images)
    python -m scifig_tools export OUT --format vila --configs pretraining     # VILA's mmc4 pickle shards
    python -m scifig_tools export OUT --format webdataset --configs pretraining   # open_flamingo's mmc4 tars

Every file an export writes is named from its own counters (images/00000000.png, shard_0.pkl,
shard-000000.tar): a name found in an archive (a figure's path, an image name inside a document) never decides
where a file lands. Rows come from the builder as `load` prepares them (train clean of evaluation articles unless
told otherwise).
"""

import base64
import io
import json
import pickle
from pathlib import Path

import datasets
import webdataset
from PIL import Image

import scifig

DOCUMENTS_PER_SHARD = 200  # as MMSci's and VILA's mmc4 pickles hold

# LLaMA-Factory's sharegpt format, with the tags MMSci's own recipe registers (mmsci-exps/README.md)
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
_ROLES = {"user": "human", "assistant": "gpt"}
IMAGE_TAG = "<image>"

# The MMSci authors' LLaMA-Factory recipe (mmsci-exps/README.md in Leezekun/MMSci): Qwen2-VL-2B-Instruct, LoRA on
# all layers, one epoch. dataset_dir and media_dir are filled with the export's folder.
RECIPE = """\
# The MMSci authors' recipe (mmsci-exps/README.md in Leezekun/MMSci), on scifig's {dataset} export.
# Run from anywhere: llamafactory-cli train {yaml}
### model
model_name_or_path: Qwen/Qwen2-VL-2B-Instruct

### method
stage: sft
do_train: true
finetuning_type: lora
lora_target: all

### dataset
dataset: {dataset}
dataset_dir: {folder}
media_dir: {folder}
template: qwen2_vl
cutoff_len: 4096
overwrite_cache: true
preprocessing_num_workers: 32

### output
output_dir: saves/qwen2_vl-2b/lora/sft-{dataset}
logging_steps: 100
save_steps: 1000
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
"""


def _rows(config, data_dir, base_url, cache_dir, num_proc, **config_kwargs):
    """The train split as prepared by the builder, figures as stored ({bytes, path}), not decoded."""
    dataset = scifig.load(config, split="train", data_dir=data_dir, base_url=base_url, cache_dir=cache_dir,
                          num_proc=num_proc, **config_kwargs)
    return dataset.cast_column("images", datasets.Sequence(datasets.Image(decode=False)))


def _suffix(data):
    """A file suffix for image bytes, from what PIL reads them as."""
    with Image.open(io.BytesIO(data)) as image:
        return {"JPEG": ".jpg", "PNG": ".png"}.get(image.format, f".{image.format.lower()}")


def _sharegpt(messages):
    """The chat layout's messages as sharegpt turns: an <image> tag where each image part stands."""
    return [{"from": _ROLES[message["role"]],
             "value": "".join(f"{IMAGE_TAG}\n" if part["type"] == "image" else part["text"] or ""
                              for part in message["content"])} for message in messages]


def llamafactory(out_dir, config, rows):
    """OUT/<config>.json (sharegpt), OUT/images/<n>.<png|jpg>, OUT/dataset_info.json and the authors' recipe."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    name = f"scifig_{config}"
    examples, written = [], 0
    for row in rows:
        images = []
        for image in row["images"]:
            path = f"images/{written:08d}{_suffix(image['bytes'])}"
            (out_dir / path).write_bytes(image["bytes"])
            images.append(path)
            written += 1
        examples.append({"messages": _sharegpt(row["messages"]), "images": images})
    (out_dir / f"{config}.json").write_text(json.dumps(examples, ensure_ascii=False, indent=1) + "\n",
                                            encoding="utf-8")
    registry = out_dir / "dataset_info.json"
    info = json.loads(registry.read_text(encoding="utf-8")) if registry.is_file() else {}
    info[name] = {"file_name": f"{config}.json", "formatting": "sharegpt",
                  "columns": {"messages": "messages", "images": "images"}, "tags": SHAREGPT_TAGS}
    registry.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    recipe = out_dir / f"qwen2vl_lora_{config}.yaml"
    recipe.write_text(RECIPE.format(dataset=name, folder=out_dir.resolve(), yaml=recipe.resolve()),
                      encoding="utf-8")
    return {"rows": len(examples), "images": written, "files": [f"{config}.json", "dataset_info.json", recipe.name]}


def mmc4_document(row):
    """A `pretraining` row as the mmc4 document it came from: the sentences, and each image (base64) with the
    index of the sentence it stands before. The similarity matrix is MMSci's shape (one row per image, one column per
    sentence) marking only each image's matched sentence: the similarities themselves are not in the rows."""
    texts, infos = [], []
    for text, image in zip(row["texts"], row["images"]):
        if image is not None:
            infos.append({"image_name": f"{row['uid']}_{len(infos) + 1}{_suffix(image['bytes'])}",
                          "image_base64": base64.b64encode(image["bytes"]).decode("ascii"),
                          "matched_text_index": len(texts)})
        else:
            texts.append(text)
    similarity = [[1.0 if info["matched_text_index"] == at else 0.0 for at in range(len(texts))] for info in infos]
    category = scifig.category_name(row["category"])
    return {"text_list": texts, "image_info": infos, "similarity_matrix": similarity, "url": row["url"],
            "category": f"{category}-{row['subject']}"}


def _document_shards(rows):
    shard = []
    for row in rows:
        shard.append(mmc4_document(row))
        if len(shard) == DOCUMENTS_PER_SHARD:
            yield shard
            shard = []
    if shard:
        yield shard


def vila(out_dir, config, rows):
    """OUT/<config>/shard_<i>.pkl and shard_<i>.count: VILA's mmc4 layout (`Dataset(dataset_type="mmc4",
    data_path=OUT/<config>)`), a folder of pickles of up to 200 plain-data documents and their counts only."""
    folder = Path(out_dir) / config
    folder.mkdir(parents=True, exist_ok=True)
    documents = shards = 0
    for number, shard in enumerate(_document_shards(rows)):
        (folder / f"shard_{number}.pkl").write_bytes(pickle.dumps(shard, protocol=4))
        (folder / f"shard_{number}.count").write_text(f"{len(shard)}\n", encoding="ascii")
        documents, shards = documents + len(shard), shards + 1
    return {"rows": documents, "shards": shards}


def webdataset_tars(out_dir, config, rows):
    """OUT/<config>/shard-<i>.tar: one `<key>.json` per document, the mmc4 document with each image inline
    (`image_base64` in its image_info), as open_flamingo's mmc4 loader (preprocess_interleaved) reads them."""
    folder = Path(out_dir) / config
    folder.mkdir(parents=True, exist_ok=True)
    documents = 0
    with webdataset.ShardWriter(str(folder / "shard-%06d.tar"), maxcount=DOCUMENTS_PER_SHARD, verbose=0) as sink:
        for row in rows:
            sink.write({"__key__": f"{documents:09d}", "json": mmc4_document(row)})
            documents += 1
    return {"rows": documents, "shards": len(list(folder.glob("shard-*.tar")))}


# --format -> (the configs it takes, the writer)
FORMATS = {
    "llamafactory": (("sft", "chat"), llamafactory),
    "vila": (("pretraining",), vila),
    "webdataset": (("pretraining",), webdataset_tars),
}


def export(out_dir, format_name, configs, data_dir=None, base_url=None, cache_dir=None, num_proc=None,
           **config_kwargs):
    """Writes each config's train split in one trainer format; returns {config: what was written}."""
    takes, write = FORMATS[format_name]
    configs = configs or [takes[0]]
    wrong = [config for config in configs if config not in takes]
    if wrong:
        raise ValueError(f"--format {format_name} writes {', '.join(takes)}, not {', '.join(wrong)}")
    return {config: write(out_dir, config, _rows(config, data_dir, base_url, cache_dir, num_proc, **config_kwargs))
            for config in configs}
