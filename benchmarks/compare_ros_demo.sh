#!/bin/bash
# `demo` vs `ros-demo --transport dds`: the same episode? Prints one line per (family, seed).
#   benchmarks/compare_ros_demo.sh "stack sort line pick_place" "0 1" [extra demo options...]
set -u
families=${1:-"stack sort line pick_place"}
seeds=${2:-"0 1"}
shift $(( $# < 2 ? $# : 2 ))
export MUJOCO_GL=${MUJOCO_GL:-egl}
out=$(mktemp -d)
for fam in $families; do
  for seed in $seeds; do
    a=$(interleave-robot demo --task "$fam" --seed "$seed" "$@" --out "$out/demo_${fam}_$seed" 2>/dev/null \
        | grep -v -E "^(run dir|report):" | sed -E 's/time: [0-9.]+ s//')
    b=$(interleave-robot ros-demo --transport dds --task "$fam" --seed "$seed" "$@" 2>/dev/null \
        | grep -v -E "^transport:" | sed -E 's/time: [0-9.]+ s//')
    same=DIFFERENT; [ "$a" == "$b" ] && same=identical
    echo "$fam seed $seed ($*): demo [$(echo "$a" | grep '^result:')] ros-demo summary $same"
  done
done
rm -rf "$out"
