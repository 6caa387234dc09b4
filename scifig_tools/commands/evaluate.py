"""`python -m scifig_tools evaluate`: scores predictions (or a text-only baseline) on a split."""

import argparse
from pathlib import Path

from scifig_tools.cli import add_command, add_source


def register(commands):
    parser = add_command(commands, "evaluate", "score predictions (or a text-only baseline) on a split")
    parser.add_argument("--config", required=True, help="the config the predictions answer, e.g. mcq")
    parser.add_argument("--split", default="validation", help="the split the predictions answer")
    scored = parser.add_mutually_exclusive_group(required=True)
    scored.add_argument("--predictions", help='JSON lines: {"id": ..., "prediction": "<raw model text>"}')
    scored.add_argument("--baseline", choices=["random", "longest-option", "first-option"],
                        help="a text-only baseline in place of a model")
    add_source(parser)
    parser.add_argument("--dataset", help="score against a folder written by `export`, or its Hub id, instead of "
                                          "the archives")
    parser.add_argument("--circular", action="store_true",
                        help="the predictions answer every rotation of the options (ids <id>-c0 ... -c3)")
    parser.add_argument("--blind-predictions", help="a run without the figures: adds the image gain")
    parser.add_argument("--only-predicted", action="store_true",
                        help="score only the rows with a prediction (every table then says on how many); by default "
                             "a row without one counts as wrong")
    parser.add_argument("--out", help="folder for metrics.json, metrics.md, by_category.png, errors.html")
    captions = parser.add_argument_group("captioning")
    captions.add_argument("--protocol", default="scifig", choices=["scifig", "mmsci", "vlmevalkit"],
                          help="whose numbers: scifig's (corpus BLEU and CIDEr-D, per-figure means with intervals), "
                               "the MMSci paper's (textgen_scores.py) or VLMEvalKit's (B2, RL, M, BS, CD)")
    captions.add_argument("--k", type=int, default=1, help="mmsci: samples per figure (a prediction is then a list "
                                                           "of k texts); the k runs are averaged")
    captions.add_argument("--bertscore-model", default="roberta-large",
                          help="BERTScore's model: a Hub name (roberta-large at layer 17 is what lang='en' picks), a "
                               "local folder, or 'none' to leave BERTScore out")
    captions.add_argument("--bertscore-layer", type=int, default=None,
                          help="the layer BERTScore reads (default: bert-score's for a known model, the last of a "
                               "local folder)")
    captions.add_argument("--judge-url", help="an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) to rate "
                                              "captions' relevance with MMSci's G-Eval prompt")
    captions.add_argument("--judge-model", help="the judge's model name at that endpoint")
    captions.add_argument("--judge-sample", type=int, default=100, help="figures the judge rates, drawn with --seed")
    captions.add_argument("--seed", type=int, default=0, help="the seed the judged figures are drawn with")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Scores the split and prints the tables; with --out, writes them and an errors page.

    Args:
        args: config, split, predictions or baseline, data_dir / base_url / dataset, circular, blind_predictions,
            out.

    Returns:
        The exit status, 0 once the tables are printed (and written).

    Raises:
        ValueError: an unknown config or split, or a predictions file that cannot be scored (PredictionsError).
    """
    from scifig_tools.evaluate import CaptionScoring, evaluate, markdown

    if args.judge_url and not args.judge_model:
        raise ValueError("--judge-url needs --judge-model (the model's name at that endpoint)")
    captions = CaptionScoring(args.protocol, args.k, args.bertscore_model, args.bertscore_layer, args.judge_url,
                              args.judge_model, args.judge_sample, args.seed)
    metrics = evaluate(args.config, args.split, args.predictions, args.baseline, args.data_dir, args.base_url,
                       args.out, dataset=args.dataset, circular=args.circular,
                       blind_predictions=args.blind_predictions, only_predicted=args.only_predicted,
                       captions=captions)
    print(markdown(metrics, f"scifig {args.config} [{args.split}]"))
    if args.out:
        print(f"wrote {Path(args.out) / 'metrics.json'}, metrics.md, by_category.png, errors/index.html")
    return 0
