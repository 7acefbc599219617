#!/usr/bin/env bash
# make-man-pages.sh VSL OUTDIR: the man pages, made from the binary's own
# --help with help2man: vsl(1) and vsl-CMD(1) for each top-level subcommand
# (`vsl completion commands` lists the command tree), each second-level
# command's --help in its group's page, gzipped into OUTDIR.
set -euo pipefail
vsl=$(realpath "$1")
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
rm -f "$out"/*.1.gz

mapfile -t paths < <("$vsl" completion commands)
cmds=()
for p in "${paths[@]}"; do [[ $p != *" "* ]] && cmds+=("$p"); done
((${#cmds[@]})) || { echo "make-man-pages: $vsl lists no commands" >&2; exit 1; }

# Every page points to the others.
see_also() {
  local self=$1 c refs=()
  [[ $self != vsl ]] && refs+=("\\fBvsl\\fR(1)")
  for c in "${cmds[@]}"; do [[ vsl-$c != "$self" ]] && refs+=("\\fBvsl-$c\\fR(1)"); done
  printf '[SEE ALSO]\n%s\n.PP\n/usr/share/doc/vsl/ (service.md, cli.md, api.md), /etc/vsl/vsl.conf\n' \
    "$(IFS=,; echo "${refs[*]}" | sed 's/,/, /g')"
}

# The --help of each command under CMD, as a COMMANDS section.
subcommands() {
  local c=$1 p
  local -a subs=()
  for p in "${paths[@]}"; do [[ $p == "$c "* ]] && subs+=("$p"); done
  ((${#subs[@]})) || return 0
  printf '[COMMANDS]\n'
  for p in "${subs[@]}"; do
    printf '.SS "vsl %s"\n.nf\n' "$p"
    # shellcheck disable=SC2086
    (exec -a vsl "$vsl" $p --help) | sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/'
    printf '.fi\n'
  done
}

# page NAME DESCRIPTION PROGRAM [CMD]
page() {
  { see_also "$1"; [[ -n ${4:-} ]] && subcommands "$4"; } >"$tmp/$1.h2m"
  help2man --no-info --section 1 --source vsl --name "$2" --include "$tmp/$1.h2m" "$3" >"$tmp/$1.1"
  gzip -9n <"$tmp/$1.1" >"$out/$1.1.gz"
}

# Run as "vsl" so that the usage lines name the command, not the build path.
cat >"$tmp/vsl" <<WRAP
#!/usr/bin/env bash
exec -a vsl "$vsl" "\$@"
WRAP
chmod +x "$tmp/vsl"
page vsl "$("$vsl" --help | head -1 | sed 's/^vsl: //')" "$tmp/vsl"

for c in "${cmds[@]}"; do
  # help2man runs PROGRAM --help and PROGRAM --version.
  cat >"$tmp/vsl-$c" <<WRAP
#!/usr/bin/env bash
[[ \${1:-} == --version ]] && { "$vsl" --version | sed 's/^vsl /vsl-$c /'; exit; }
exec -a vsl "$vsl" $c "\$@"
WRAP
  chmod +x "$tmp/vsl-$c"
  desc=$("$vsl" --help | sed -n "s/^  $c  *//p")
  page "vsl-$c" "${desc:-vsl $c}" "$tmp/vsl-$c" "$c"
done
