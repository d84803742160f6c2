#!/bin/bash
# usage: cg.sh WORKTREE WHAT [K]  -> instructions per call of WHAT (choose, decide, featurise):
# callgrind totals of cg.py at N = 1200 and N = 200 calls (after the same set-up), subtracted.
here=$(cd "$(dirname "$0")" && pwd); wt=$1; what=$2; k=${3:-10}
out=${OUT:-/tmp}/cg-$(basename $wt)-$what-$k
cd $wt
for n in 200 1200; do
  valgrind --tool=callgrind --callgrind-out-file=$out-$n.cg .venv/bin/python $here/cg.py $what $n $k > /dev/null 2> $out-$n.log
done
a=$(grep -oP 'Collected : \K[0-9]+' $out-200.log); b=$(grep -oP 'Collected : \K[0-9]+' $out-1200.log)
echo "$wt $what K=$k: $(( (b - a) / 1000 )) instructions per call"
