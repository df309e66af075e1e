#!/bin/bash
# One attack at a time on the V2V ring, defences off and on.
cd "$(dirname "$0")/.."
# Needs a release build (cargo build --release) or MASIM=path/to/masim.
src=scenarios/security_v2v_spoofing.ron
mkdir -p ${OUT:-out/security_study}
i=0
grep -n "^    (at: " $src | while IFS=: read ln rest; do
  name=$(echo "$rest" | sed -E 's/.*attack: ([A-Za-z]+).*/\1/')
  line=$(echo "$rest" | sed -E 's/at: [0-9]+/at: 300/')
  awk -v keep="$line" 'BEGIN{skip=0} /^  attacks: \[/{print; print keep; skip=1; next} skip && /^  \],/{skip=0} !skip{print}' $src | sed -E 's/ticks: 4800/ticks: 1500/' > ${OUT:-out/security_study}/ring_$name.ron
  for d in off on; do
    sets=""
    [ $d = on ] && sets="--set security.authentication=true --set security.plausibility=true --set security.reputation=true --set security.aggregation=Median"
    ${MASIM:-target/release/masim} run ${OUT:-out/security_study}/ring_$name.ron $sets --out ${OUT:-out/security_study}/ring_${name}_$d --force --quiet >/dev/null 2>&1 || echo "FAILED $name $d"
  done
done
for d in off on; do
  sets=""; [ $d = on ] && sets="--set security.authentication=true --set security.plausibility=true --set security.reputation=true --set security.aggregation=Median"
  awk 'BEGIN{skip=0} /^  attacks: \[/{print "  attacks: [],"; skip=1; next} skip && /^  \],/{skip=0; next} !skip{print}' $src | sed -E 's/ticks: 4800/ticks: 1500/' > ${OUT:-out/security_study}/ring_None.ron
  ${MASIM:-target/release/masim} run ${OUT:-out/security_study}/ring_None.ron $sets --out ${OUT:-out/security_study}/ring_None_$d --force --quiet >/dev/null 2>&1 || echo "FAILED none $d"
done
