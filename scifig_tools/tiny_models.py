"""Tiny models built from a config, nothing downloaded: for running the metrics, the judge and the trainers end to
end offline (their numbers mean nothing; the plumbing is what they show).

    python -m scifig_tools tiny-model roberta OUT     # BERTScore's model: evaluate --bertscore-model OUT
    python -m scifig_tools tiny-model judge OUT       # a causal LM with a chat template, for a judge server
    python -m scifig_tools tiny-model qwen2vl OUT     # a Qwen2-VL, for the fine-tuning recipes (TRL, LLaMA-Factory)

Tokenizers are byte-level BPE learned from the bundled sample's text. This module imports no scifig (trainers' own
environments build models with it too).
"""

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# the sample's readable source, in a clone or in the wheel's copy of the repository
SOURCE = next((path for path in (_HERE.parent / "dummy_data" / "source" / "articles.json",
                                 _HERE / "repository" / "dummy_data" / "source" / "articles.json") if path.is_file()),
              _HERE.parent / "dummy_data" / "source" / "articles.json")


def sample_text():
    """The sample's titles, abstracts, sections and figure captions."""
    texts = []
    for article in json.loads(SOURCE.read_text(encoding="utf-8"))["articles"]:
        texts += [article["title"], article["abstract"]] + [section["content"] for section in article["sections"]]
        texts += [figure["title"] + " " + " ".join(figure["panels"].values()) for figure in article["figures"]]
    return texts


def byte_level_bpe(special, vocab_size=600, extra=()):
    """A byte-level BPE tokenizer learned from the sample's text, with these special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(sample_text() + list(extra), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return bpe


def roberta(folder, seed=0):
    """A RoBERTa of 3 layers of 32 dimensions, saved with its tokenizer: what BERTScore reads from a folder (every
    layer by default; --bertscore-layer picks one). bert-score chooses a model class from the folder's name, so
    the name should not hold "t5" nor start with "scibert"."""
    import torch
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    folder = Path(folder)
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    made = PreTrainedTokenizerFast(tokenizer_object=byte_level_bpe(special), bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", cls_token="<s>",
                                   sep_token="</s>", model_max_length=128)
    made.save_pretrained(folder)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(made), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=130, pad_token_id=made.pad_token_id,
                           bos_token_id=made.bos_token_id, eos_token_id=made.eos_token_id)
    RobertaModel(config).save_pretrained(folder)
    return folder


JUDGE_TEMPLATE = ("{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
                  "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


def judge(folder, seed=0):
    """A causal language model of 2 layers with a chat template, saved with its tokenizer: what a test serves as
    an OpenAI-compatible judge (its ratings are noise)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    special = ["<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|pad|>"]
    made = PreTrainedTokenizerFast(tokenizer_object=byte_level_bpe(special, extra=["1 2 3 4 5 score relevance"]),
                                   eos_token="<|end|>", pad_token="<|pad|>", chat_template=JUDGE_TEMPLATE,
                                   model_max_length=2048)
    made.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(made), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         bos_token_id=None, eos_token_id=made.eos_token_id, pad_token_id=made.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


# ---- Qwen2-VL: the model MMSci's recipes fine-tune, for the trainers ----

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


def qwen2vl_tokenizer(folder=None):
    """A Qwen2TokenizerFast whose vocabulary is a byte-level BPE trained on the sample's text."""
    from transformers import Qwen2TokenizerFast

    bpe = byte_level_bpe(SPECIAL, extra=["A: B: C: D: system user assistant"])
    made = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                              unk_token=None, bos_token=None, chat_template=CHAT_TEMPLATE)
    if folder:
        made.save_pretrained(folder)
    return made


def qwen2vl_processor(folder=None):
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor

    made_tokenizer = qwen2vl_tokenizer()
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


def qwen2vl_config(made_tokenizer):
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


def qwen2vl_model(made_tokenizer, seed=0):
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(qwen2vl_config(made_tokenizer))


def qwen2vl(folder, seed=0):
    """A Qwen2-VL of 1 layer of 32 dimensions, as a Hub model repository would be for trainers that load by name:
    tokenizer, processor (Qwen2-VL's chat template and image processor, at small sizes), config and weights."""
    folder = Path(folder)
    made_processor = qwen2vl_processor(folder)
    tiny = qwen2vl_model(made_processor.tokenizer, seed)
    tiny.save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}), encoding="utf-8")
    return folder


KINDS = {"roberta": roberta, "judge": judge, "qwen2vl": qwen2vl}
