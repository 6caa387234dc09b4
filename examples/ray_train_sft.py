"""Feed scifig's `sft` mixture to Ray Train workers, each reading its own part of the archives: the split is a
Ray Data dataset whose read tasks are scifig's shards (scifig.ray_dataset), handed to a TorchTrainer through
`datasets={"train": ...}`; every worker takes its part with `ray.train.get_dataset_shard("train")`.

    pip install "scifig[ray]" "ray[train]" torch
    python examples/ray_train_sft.py --data-dir dummy_data --workers 2 --out rank-ids      # the sample, one machine
    python examples/ray_train_sft.py --ray-address auto --workers 16 --out /shared/rank-ids  # MMSci, on a cluster

The loop here only decodes each row's figures and writes the ids each worker saw (OUT/rank-<r>.json): put your
model's step where it counts them. Prints, as JSON, how many rows and figures each worker read.
"""

import argparse
import json
import os

import ray
import ray.train
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

import scifig


def train_loop(config):
    features = scifig.FEATURES[scifig.task_of("sft")]
    rank = ray.train.get_context().get_world_rank()
    ids, figures = [], 0
    for batch in ray.train.get_dataset_shard("train").iter_batches(batch_size=config["batch_size"],
                                                                   batch_format="pandas"):
        for row in batch.to_dict("records"):
            decoded = features.decode_example(row)  # figures as PIL images, as `scifig.load` gives them
            figures += len(decoded["images"])
            ids.append(row["id"])
    with open(os.path.join(config["out"], f"rank-{rank}.json"), "w", encoding="utf-8") as file:
        json.dump({"ids": ids, "figures": figures}, file)
    ray.train.report({"rows": len(ids), "figures": figures})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="a folder of the archives every node sees (default: MMSci's hosted ones)")
    parser.add_argument("--base-url", help="where the archives are served over HTTP (every node reads by range)")
    parser.add_argument("--ray-address", help="a running Ray cluster's address ('auto' finds it; default: start one)")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (default: 2)")
    parser.add_argument("--cpus-per-worker", type=float, default=1, help="CPUs each worker holds (default: 1)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per batch (default: 8)")
    parser.add_argument("--out", required=True, help="a folder every worker can write its ids into")
    args = parser.parse_args()

    ray.init(address=args.ray_address, log_to_driver=False)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    dataset = scifig.ray_dataset("sft", "train", data_dir=args.data_dir and os.path.abspath(args.data_dir),
                                 base_url=args.base_url)
    TorchTrainer(train_loop, train_loop_config={"out": out, "batch_size": args.batch_size},
                 datasets={"train": dataset},
                 scaling_config=ScalingConfig(num_workers=args.workers,
                                              resources_per_worker={"CPU": args.cpus_per_worker}),
                 run_config=RunConfig(storage_path=os.path.join(out, "runs"))).fit()
    read = [json.load(open(os.path.join(out, f"rank-{rank}.json"), encoding="utf-8")) for rank in range(args.workers)]
    print(json.dumps({"rows": [len(part["ids"]) for part in read], "figures": [part["figures"] for part in read]}))


if __name__ == "__main__":
    main()
