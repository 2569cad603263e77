#!/bin/sh
# readme-bindings.sh - the README's Rust and Go fragments compile, as
# tests/integration/t_readme.sh compiles its C fragments.
#
#   sh tests/readme-bindings.sh rust BUILD_DIR   (after cargo test: it
#                                                 links the crate built
#                                                 in BUILD_DIR/rust)
#   sh tests/readme-bindings.sh go BUILD_DIR     (cgo's environment set
#                                                 by the caller, as for
#                                                 go test)
#
# The ```rust (or ```go) block of README.md is wrapped in a function
# with stubs for what it leaves to the reader (call_backend, reply_429)
# and compiled against the binding in this tree: `rustc` against the
# crate's rlib, `go vet` in a scratch module whose `capbroker` is
# client/go (replace directive; no proxy is asked).  Prints one line,
# "readme-bindings: LANG fragment compiles", or the compiler's errors
# and exits 1.
set -eu

lang=$1
build=$(cd "$2" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cbreadme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

block() {
	awk -v want="$1" '
		$0 == "```" want { inb = 1; n++; next }
		/^```/ { inb = 0; next }
		inb && n == 1 { print }' "$root/README.md"
}

case $lang in
rust)
	frag=$(block rust)
	[ -n "$frag" ] || { echo "readme-bindings: no rust block"; exit 1; }
	# The newest build of the crate's library (cargo test made it).
	rlib=$(ls -t "$build"/rust/debug/deps/libcapbroker-*.rlib 2>/dev/null |
	    head -n 1)
	[ -n "$rlib" ] || { echo "readme-bindings: no libcapbroker rlib" \
	    "in $build/rust (run cargo test first)"; exit 1; }
	{
		printf '#![allow(unused)]\nuse std::time::Duration;\n'
		printf 'fn call_backend(_h: capbroker::Hold<%s_>) {}\n' "'"
		printf 'fn reply_429(_d: Duration) {}\n'
		printf 'fn main() -> capbroker::Result<()> {\n'
		printf '%s\n' "$frag"
		printf 'Ok(())\n}\n'
	} >"$tmp/main.rs"
	"${RUSTC:-/usr/bin/rustc}" --edition 2021 \
	    -L dependency="$build/rust/debug/deps" \
	    --extern capbroker="$rlib" -L native="$build" \
	    -o "$tmp/readme" "$tmp/main.rs"
	;;
go)
	frag=$(block go)
	[ -n "$frag" ] || { echo "readme-bindings: no go block"; exit 1; }
	{
		printf 'package main\n\nimport (\n\t"context"\n\t"errors"\n'
		printf '\t"fmt"\n\t"time"\n\n\t"capbroker"\n)\n\n'
		printf 'func reply429(time.Duration) {}\n\n'
		printf 'func run(ctx context.Context) (err error) {\n'
		printf '%s\n' "$frag"
		printf '\t_, _ = gen, h2\n\treturn nil\n}\n\n'
		printf 'func main() { _ = run(context.Background()) }\n'
	} >"$tmp/main.go"
	printf 'module readme\n\ngo 1.19\n\nrequire capbroker v0.0.0\n\n' \
	    >"$tmp/go.mod"
	printf 'replace capbroker => %s/client/go\n' "$root" >>"$tmp/go.mod"
	(cd "$tmp" && GOFLAGS=-mod=mod "${GO:-/usr/bin/go}" vet .)
	;;
*)
	echo "usage: readme-bindings.sh rust|go BUILD_DIR" >&2
	exit 64
	;;
esac
echo "readme-bindings: $lang fragment compiles"
