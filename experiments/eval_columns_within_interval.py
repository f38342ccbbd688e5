"""Is every metric of eval.json's model column inside the baseline column's 95% interval?

For `make eval ARGS="--text-encoder onnx-int8 --baseline SAME_DIR"`: the model column is encoded by
ONNX, the baseline by torch, on the same corpus, so the interval is torch's sampling noise.

    python experiments/eval_columns_within_interval.py reports/eval.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def compare(report: dict) -> dict:
    model, baseline = report["models"]["model"], report["models"]["baseline"]
    inside, outside, largest = 0, [], (0.0, None)
    for key, entry in model["metrics"].items():
        interval = baseline["metrics"].get(key, {}).get("exact_ci95")
        if interval is None:
            continue
        low, high = interval
        if low <= entry["exact"] <= high:
            inside += 1
        else:
            outside.append(key)
        difference = abs(entry["exact"] - baseline["metrics"][key]["exact"])
        if difference > largest[0]:
            largest = (difference, key)
    return {"model_text_encoder": model.get("text_encoder", "torch"),
            "baseline_text_encoder": baseline.get("text_encoder", "torch"),
            "metrics_with_interval": inside + len(outside), "inside": inside, "outside": outside,
            "largest_difference": round(largest[0], 6), "largest_difference_metric": largest[1]}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(compare(json.loads(Path(sys.argv[1]).read_text())), indent=2))
