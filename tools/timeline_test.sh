#!/usr/bin/env bash
# timeline_test.sh DESTSIM — `run --html` in a real browser: headless Chromium
# renders the page of a crash scenario; its DOM holds the lanes, the crash line
# and the verdict, and its screenshot is not blank (the drawn bars' colours are
# in it). Chromium is a Debian package that scripts/setup.sh installs.
set -u
bin=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "timeline_test FAILED: $*" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed (scripts/setup.sh installs it)"
scenario="$src/scenarios/marketo/crash-mid-poll-fresh-job-beside-unknown-ones.json"
"$bin" run "$scenario" --html "$tmp/page.html" > "$tmp/run.txt" 2>&1 || fail "run --html failed: $(cat "$tmp/run.txt")"
grep -q "<script" "$tmp/page.html" || fail "no script in the page"
grep -qiE "<(link|img|script)[^>]+(src|href)=\"https?:" "$tmp/page.html" && fail "the page loads something from the network"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions
       --user-data-dir="$tmp/profile" --window-size=1440,480)
timeout 60 "$browser" "${flags[@]}" --dump-dom "file://$tmp/page.html" > "$tmp/dom.html" 2> "$tmp/browser.err" \
  || fail "chromium --dump-dom failed: $(tail -5 "$tmp/browser.err")"
for want in "POST 123-ABC-456.mktorest.com/bulk/v1/leads.json" "uploads and polls" "jobs ended (68)" \
            "crash mid_poll" "restart" "<svg" "E1 pass"; do
  grep -qF "$want" "$tmp/dom.html" || fail "the rendered page lacks \"$want\" (the script did not draw it)"
done
timeout 60 "$browser" "${flags[@]}" --screenshot="$tmp/shot.png" "file://$tmp/page.html" > /dev/null 2>> "$tmp/browser.err" \
  || fail "chromium --screenshot failed: $(tail -5 "$tmp/browser.err")"
[ -s "$tmp/shot.png" ] || fail "no screenshot"
python3 - "$tmp/shot.png" <<'PY' || fail "the screenshot is blank or lacks the drawn colours"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, ink = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = tuple(line[x:x + 3])
        if px != (255, 255, 255):
            ink += 1
            colours.add(px)
    prev = line
share = ink / (w * h)
need = {(44, 160, 44): "2xx green", (34, 34, 34): "no-answer black"}
missing = [name for px, name in need.items() if px not in colours]
print(f"screenshot {w}x{h}: {share:.1%} drawn, {len(colours)} colours")
assert share > 0.03, f"only {share:.2%} of the page is drawn"
assert not missing, f"missing colours: {missing}"
PY
# certify --html: a page per written failing case, the requests its failure names outlined.
"$bin" certify canary --cases 30 --out "$tmp/cases" --html "$tmp/pages" > "$tmp/certify.txt" 2>&1
[ $? -eq 1 ] || fail "certify canary did not fail: $(cat "$tmp/certify.txt")"
for c in "$tmp"/cases/*.json; do
  [ -s "$tmp/pages/$(basename "${c%.json}").html" ] || fail "no page for $(basename "$c")"
done
page=$(ls "$tmp"/pages/canary-I1-case-*.html | head -1)
[ -n "$page" ] || fail "no page for the canary's I1 failure: $(ls "$tmp/pages")"
timeout 60 "$browser" "${flags[@]}" --dump-dom "file://$page" > "$tmp/dom2.html" 2>> "$tmp/browser.err" || fail "dump-dom of $page"
grep -q 'class="named"' "$tmp/dom2.html" || fail "the I1 page outlines no request its failure names"
grep -q "I1 FAIL" "$tmp/dom2.html" || fail "the I1 page shows no failed verdict"
"$bin" certify canary --cases 5 --out "" --html "$tmp/p2" > /dev/null 2> "$tmp/err2"
[ $? -eq 2 ] && grep -q -- "--html draws the written failing cases" "$tmp/err2" || fail "--html without --out: $(cat "$tmp/err2")"
echo "timeline_test: ok"
