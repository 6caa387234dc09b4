"""A tiny Qwen2-VL built here, nothing downloaded: a byte-level BPE tokenizer trained on the sample's text with
Qwen2-VL's special tokens and chat template, Qwen2-VL's image processor at small sizes, and a model of random
weights and tiny dimensions from a config. Shared by the training tests (TRL, pre-training, LLaMA-Factory)."""

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# the sample's readable source: the tokenizer learns its words (read as plain JSON, so that trainers' own
# environments, which hold no scifig, can build the model too)
SOURCE = Path(__file__).resolve().parent.parent / "dummy_data" / "source" / "articles.json"

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]

# Qwen2-VL-Instruct's chat template (its tokenizer_config.json), which the processor applies
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# small images: 28-pixel steps (patch 14, merged 2 x 2), at most 4 x 4 steps
IMAGE_PROCESSOR = {"min_pixels": 28 * 28, "max_pixels": 4 * 4 * 28 * 28, "patch_size": 14, "merge_size": 2,
                   "temporal_patch_size": 2}


def sample_text():
    texts = []
    for article in json.loads(SOURCE.read_text(encoding="utf-8"))["articles"]:
        texts += [article["title"], article["abstract"]] + [section["content"] for section in article["sections"]]
        texts += [figure["title"] + " " + " ".join(figure["panels"].values()) for figure in article["figures"]]
    return texts


def tokenizer(folder=None):
    """A Qwen2TokenizerFast whose vocabulary is a byte-level BPE trained on the sample's text."""
    from transformers import Qwen2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(sample_text() + ["A: B: C: D: system user assistant"], trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    made = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                              unk_token=None, bos_token=None, chat_template=CHAT_TEMPLATE)
    if folder:
        made.save_pretrained(folder)
    return made


def processor(folder=None):
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor

    made_tokenizer = tokenizer()
    kwargs = {"image_processor": Qwen2VLImageProcessor(**IMAGE_PROCESSOR), "tokenizer": made_tokenizer,
              "chat_template": CHAT_TEMPLATE}
    try:
        from transformers import Qwen2VLVideoProcessor

        kwargs["video_processor"] = Qwen2VLVideoProcessor()  # transformers 5.x asks for it
    except ImportError:  # older lines have none
        pass
    made = Qwen2VLProcessor(**kwargs)
    if folder:
        made.save_pretrained(folder)
    return made


def config(made_tokenizer):
    from transformers import Qwen2VLConfig

    ids = {token: made_tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    text = {"vocab_size": len(made_tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}, "tie_word_embeddings": True}
    vision = {"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2, "in_chans": 3}
    tokens = {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
              "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
              "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
              "pad_token_id": ids["<|endoftext|>"]}
    if "text_config" in getattr(Qwen2VLConfig, "sub_configs", {}):  # transformers >= 4.53 nests the text model's
        return Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
    return Qwen2VLConfig(**text, vision_config=vision, **tokens)


def model(made_tokenizer, seed=0):
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(config(made_tokenizer))


def model_folder(folder):
    """A folder as a Hub model repository would be, for trainers that load by name: tokenizer, processor, config
    and the tiny model's weights."""
    folder = Path(folder)
    made_processor = processor(folder)
    tiny = model(made_processor.tokenizer)
    tiny.save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}), encoding="utf-8")
    return folder
