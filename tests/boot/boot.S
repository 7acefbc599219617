/* A boot sector for vsl's boot test. The BIOS loads it at 0x7c00; it sets up
 * COM1 (polled, 115200 8N1), prints "vsl-boot: booted disk of " and then the
 * NUL-terminated string stored in sector 1 of the same disk (read with
 * INT 13h from the drive the BIOS booted), so a test can tell that a host
 * booted its own disk. It then writes to the isa-debug-exit port (0xf4; QEMU
 * exits if that device is present) and halts for good.
 */
  .include "prologue.inc"
  .code16
  .text
  .globl _start
_start:
  BOOT_PROLOGUE

  mov $banner, %si
  call puts

  READ_SECTOR1 read_failed
  movb $0, 0x7e00 + 255  /* bound the string */
  mov $0x7e00, %si
  call puts
  jmp done
read_failed:
  mov $read_error, %si
  call puts
done:
  mov $crlf, %si
  call puts

  mov $0xf4, %dx
  mov $0x10, %al
  out %al, %dx
halt:
  cli
  hlt
  jmp halt

/* puts: prints the NUL-terminated string at %si. */
puts:
  lodsb
  test %al, %al
  jz puts_end
  mov %al, %ah
  mov $0x3fd, %dx
wait_thr:
  in %dx, %al
  test $0x20, %al
  jz wait_thr
  mov $0x3f8, %dx
  mov %ah, %al
  out %al, %dx
  jmp puts
puts_end:
  ret

banner:     .asciz "vsl-boot: booted disk of "
read_error: .asciz "<cannot read sector 1>"
crlf:       .asciz "\r\n"
boot_drive: .byte 0

  .org 510
  .word 0xaa55
