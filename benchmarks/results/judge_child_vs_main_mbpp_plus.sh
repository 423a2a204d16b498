#!/bin/bash
# Ad-hoc timing used for benchmarks/results/judge_child_vs_main_mbpp_plus.json (paths of the development VM).
# usage: run.sh NAME CHECKOUT ; prints wall seconds of a warm-cache MBPP+ evaluation of gpt-3.5's samples
name=$1; root=$2
export PYTHONPATH=$root/src:$root/packages/plum-exec/src:$root/packages/plum-data/src:$root/packages/plum-train/src
export XDG_CACHE_HOME=/tmp/h20w/mb/cache_$name
rm -f /tmp/h20w/mb/out_$name.jsonl
start=$(date +%s.%N)
/work/h20speed/.venv/bin/python -m plum_exec evaluate-samples --benchmark mbpp+ --dataset-path /work/shared/data/evalplus_dev/mbpp_plus_dev.jsonl --samples /tmp/h20w/speed2/gpt35_mbpp_plus.jsonl --workers 2 --isolation process --out /tmp/h20w/mb/out_$name.jsonl --summary /tmp/h20w/mb/sum_$name.json > /tmp/h20w/mb/log_$name.txt 2>&1
end=$(date +%s.%N)
echo "$name $(echo "$end - $start" | bc) load $(cut -d' ' -f1 /proc/loadavg) $(python3 -c "import json; d=json.load(open('/tmp/h20w/mb/sum_$name.json')); print(d['base']['pass@1'], d['plus']['pass@1'])")"
