"""Checks `uzramctl metrics` with Prometheus's own parser (Debian's
python3-prometheus-client): it parses; every sample has a device label;
counters end in _total; and every number of `uzramctl --json` is there.
Usage: metrics_check.py METRICS_FILE JSON_FILE DEVICE..."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
stats = json.load(open(sys.argv[2]))
devices = set(sys.argv[3:])
errors = []
covered = set()
chunks = set()
seen_devices = set()
for f in families:
    covered.add(f.documentation.split(":")[0])
    if f.type == "counter" and not all(s.name.endswith("_total") for s in f.samples):
        errors.append(f"counter {f.name}: a sample without _total")
    for s in f.samples:
        if not s.name.startswith("uzram_"):
            errors.append(f"{s.name}: no uzram_ prefix")
        if "device" not in s.labels:
            errors.append(f"{s.name}: no device label")
        seen_devices.add(s.labels.get("device"))
        if f.name.startswith("uzram_chunks_"):
            chunks.add(f"chunks_{s.labels['size']}_{f.name[len('uzram_chunks_'):]}")
for key, value in stats.items():
    if key == "pid" or not isinstance(value, (int, float)):
        continue
    if key.startswith("chunks_"):
        if key not in chunks:
            errors.append(f"--json {key}: no sample")
    elif key not in covered:
        errors.append(f"--json {key}: no metric")
for d in devices - seen_devices:
    errors.append(f"device {d}: no samples")
print(f"{len(families)} families, {sum(len(f.samples) for f in families)} samples, "
      f"{len(seen_devices)} devices")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
