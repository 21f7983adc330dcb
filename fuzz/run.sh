#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, each from a
# corpus seeded with real inputs: the provider streams of tests/fixtures/sse, the
# CommonMark examples, and valid API bodies. Needs cargo-fuzz and a nightly toolchain
# (`cargo install cargo-fuzz`); CI does not run it. A crash stops the run and leaves its
# input under fuzz/artifacts/TARGET/; keep it as a unit test once fixed.
#
#   fuzz/run.sh                 # all targets, 10 minutes each
#   SECONDS_EACH=60 fuzz/run.sh sse markdown
set -euo pipefail
cd "$(dirname "$0")"
seconds=${SECONDS_EACH:-600}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(sse decoder sanitize markdown filter api_body)
fi

seed() {
    local target=$1 dir=corpus/$1
    mkdir -p "$dir"
    case $target in
    sse | sanitize)
        cp ../tests/fixtures/sse/*.sse "$dir"/ ;;
    decoder)
        # The first byte picks the decoder: 0 Responses, 1 Chat Completions, 2 Anthropic.
        local n=0
        for file in ../tests/fixtures/sse/*.sse; do
            for which in 0 1 2; do
                { printf "\\x0$which"; cat "$file"; } > "$dir/seed-$which-$n"
            done
            n=$((n + 1))
        done ;;
    markdown)
        # The first byte is the width; the CommonMark spec's examples (split on their ⁂).
        python3 - "$dir" <<'PY'
import sys
examples = open("../tests/fixtures/commonmark/spec-examples.txt", encoding="utf-8").read().split("\n\u2042\n")
for n, example in enumerate(examples):
    open(f"{sys.argv[1]}/seed-{n}", "wb").write(b"P" + example.encode())
PY
        ;;
    filter)
        printf 'status:requires_action priority:high legal' > "$dir/seed-0"
        printf 'assistant:asst_x runtime:prod refund 1842' > "$dir/seed-1" ;;
    api_body)
        # The first byte picks the route (tests/checks BODY_ROUTES).
        printf '\x00{"name":"p2","limits":{"tokens_per_minute":10,"concurrent_threads":1}}' > "$dir/seed-0"
        printf '\x03{"name":"a2","model":"local","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}' > "$dir/seed-3"
        printf '\x04{"instructions":"x","max_output_tokens":100}' > "$dir/seed-4"
        printf '\x07{"assistant_id":"{assistant}","metadata":{"k":"v"}}' > "$dir/seed-7"
        printf '\x08{"metadata":{"priority":"high"},"title":"t"}' > "$dir/seed-8"
        printf '\x09{"role":"user","content":[{"type":"text","text":"hi"}]}' > "$dir/seed-9"
        printf '\x0b{"reason":"no"}' > "$dir/seed-11" ;;
    esac
}

# Built once, then each target's binary runs by itself: a change to the sources while
# the targets run does not rebuild them one by one.
for target in "${targets[@]}"; do
    cargo +nightly fuzz build -O "$target" 2>&1 | tail -1
done
bin=target/x86_64-unknown-linux-gnu/release
for target in "${targets[@]}"; do
    seed "$target"
    echo "== $target: ${seconds}s"
    mkdir -p "artifacts/$target"
    "$bin/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=4096 -print_final_stats=1 \
        2>&1 | tee "/tmp/fuzz-$target.log" | grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|thread .* panicked)" || true
    if grep -q "SUMMARY\|panicked\|deadly signal" "/tmp/fuzz-$target.log"; then
        echo "!! $target crashed: see /tmp/fuzz-$target.log and fuzz/artifacts/$target/"
        exit 1
    fi
done
