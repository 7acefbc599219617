# Sourced by make-boot-image.sh and make-farm-image.sh.
# write_boot_image SOURCE OUTPUT SIZE: assembles the 16-bit boot sector in
# SOURCE (tests/boot/*.S) and writes it as sector 0 of a raw image of SIZE
# (truncate's syntax), sparse beyond it. Needs GNU as and ld (binutils).
write_boot_image() {
  local src=$1 out=$2 size=$3 work
  work=$(mktemp -d)
  as --32 -I "$(dirname "$src")" -o "$work/boot.o" "$src" &&
    ld -m elf_i386 -Ttext 0x7c00 --oformat binary -e _start -o "$work/boot.bin" "$work/boot.o" || {
    rm -rf "$work"
    return 1
  }
  if [[ $(stat -c %s "$work/boot.bin") -ne 512 ]]; then
    echo "boot sector of $src is $(stat -c %s "$work/boot.bin") bytes, not 512" >&2
    rm -rf "$work"
    return 1
  fi
  rm -f "$out"
  truncate -s "$size" "$out"
  dd if="$work/boot.bin" of="$out" conv=notrunc status=none
  rm -rf "$work"
}
