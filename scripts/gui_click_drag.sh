#!/usr/bin/env bash
# Exercises the desktop app the way a person would, under a virtual X server: pause with
# Space, click a vehicle (the inspector must open on it), drag the world (it must move),
# press F (it must fit again). Saves a screenshot after each step for a person to look at.
#
#   scripts/gui_click_drag.sh [SCENARIO] [OUT_DIR]
#
# Needs Xvfb, xdotool and ImageMagick's `import` (apt-get install xvfb xdotool imagemagick
# mesa-vulkan-drivers) and a built masim (MASIM; by default the release binary if it is built,
# else the debug one, under $CARGO_TARGET_DIR or target/). Not part of
# `cargo test`: the checks are for a person to read off the screenshots.
set -euo pipefail
SCENARIO=${1:-scenarios/traffic_ring_faults.ron}
OUT=${2:-out/gui_click_drag}
if [ -z "${MASIM:-}" ]; then
  for candidate in "${CARGO_TARGET_DIR:-target}/release/masim" "${CARGO_TARGET_DIR:-target}/debug/masim"; do
    if [ -x "$candidate" ]; then MASIM=$candidate; break; fi
  done
fi
if [ -z "${MASIM:-}" ] || [ ! -x "$MASIM" ]; then
  echo "error: no masim binary found (build one with cargo build --release, or set MASIM=path)" >&2
  exit 2
fi
DISPLAY_NUM=${DISPLAY_NUM:-:97}
mkdir -p "$OUT"

Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
APP=
cleanup() {
  if [ -n "$APP" ]; then kill "$APP" 2>/dev/null || true; fi
  kill "$XVFB" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY=$DISPLAY_NUM
sleep 2
"$MASIM" gui "$SCENARIO" >"$OUT/app.log" 2>&1 &
APP=$!
# Software rendering starts slowly.
for _ in $(seq 1 60); do
  xdotool search --name masim >/dev/null 2>&1 && break
  if ! kill -0 "$APP" 2>/dev/null; then
    echo "error: the app exited before opening its window; see $OUT/app.log" >&2
    exit 1
  fi
  sleep 1
done
sleep 10
WIN=$(xdotool search --name masim | head -1)
xdotool windowfocus "$WIN"
shot() { import -window root "$OUT/$1.png"; echo "saved $OUT/$1.png"; }

# Pause (Space goes to the focused window; the pointer rests on the world view).
xdotool mousemove 660 300 key space
sleep 2
shot 1_paused
# The world view spans x 370..950, y 22..570 with the default panels; the fitted ring is
# centred at (660, 296) with a radius of about 190 px, so a click on its top edge lands
# within the 12 px pick radius of a vehicle.
xdotool mousemove 660 106 click 1
sleep 2
shot 2_selected
# Drag from empty world 100 px left and up: the ring must move by as much.
xdotool mousemove 700 530 mousedown 1
for i in $(seq 1 10); do xdotool mousemove $((700 - 10 * i)) $((530 - 10 * i)); sleep 0.1; done
xdotool mouseup 1
sleep 2
shot 3_dragged
xdotool key f
sleep 2
shot 4_fitted
