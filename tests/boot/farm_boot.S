/* The farm demo's boot sector (scripts/make-farm-image.sh). The BIOS loads it
 * at 0x7c00 from the host's LUN 0; it prints on COM1 (polled, 115200 8N1):
 *   vsl-farm: booted host <h> server <s>   (sector 1, written by the farm
 *                                           manager after copying the image)
 *   vsl-farm: disk 0x80: <n> sectors (<m> MiB)   for every BIOS hard disk
 *   vsl-farm: ready, <k> disks
 * and halts (the host stays on until the farm manager powers it off). The
 * marker below tells the farm manager that sector 1 is the host-name sector.
 */
  .include "prologue.inc"
  .code16
  .text
  .globl _start
_start:
  BOOT_PROLOGUE

  mov $banner, %si
  call puts
  READ_SECTOR1 no_name
  movb $0, 0x7e00 + 255
  mov $0x7e00, %si
  cmpb $0, (%si)
  jne print_name
no_name:
  mov $noname, %si
print_name:
  call puts
  mov $crlf, %si
  call puts

  /* Every hard disk the BIOS knows: 0x80, 0x81, ... */
  movb $0x80, drive
next_drive:
  movb drive, %dl
  mov $0x08, %ah
  xor %di, %di
  int $0x13
  jc disks_done
  movw $0x1a, params
  mov $0x48, %ah
  movb drive, %dl
  mov $params, %si
  int $0x13
  jc disks_done
  mov $disk_msg, %si
  call puts
  xor %eax, %eax
  movb drive, %al
  call print_hex8
  mov $colon, %si
  call puts
  movl params + 16, %eax
  call print_dec
  mov $sectors_msg, %si
  call puts
  movl params + 16, %eax
  shr $11, %eax
  call print_dec
  mov $mib_msg, %si
  call puts
  incb drive
  cmpb $0x88, drive
  jb next_drive
disks_done:
  mov $ready_msg, %si
  call puts
  xor %eax, %eax
  movb drive, %al
  sub $0x80, %al
  call print_dec
  mov $disks_msg, %si
  call puts
halt:
  cli
  hlt
  jmp halt

/* putc: prints %al. */
putc:
  push %dx
  push %ax
  mov $0x3fd, %dx
1:
  in %dx, %al
  test $0x20, %al
  jz 1b
  pop %ax
  mov $0x3f8, %dx
  out %al, %dx
  pop %dx
  ret

/* puts: prints the NUL-terminated string at %si. */
puts:
  lodsb
  test %al, %al
  jz 2f
  call putc
  jmp puts
2:
  ret

/* print_dec: prints %eax in decimal. */
print_dec:
  mov $10, %ecx
  xor %bx, %bx
3:
  xor %edx, %edx
  div %ecx
  push %dx
  inc %bx
  test %eax, %eax
  jnz 3b
4:
  pop %ax
  add $'0', %al
  call putc
  dec %bx
  jnz 4b
  ret

/* print_hex8: prints %al as 0xNN. */
print_hex8:
  mov %al, %bl
  mov $'0', %al
  call putc
  mov $'x', %al
  call putc
  mov %bl, %al
  shr $4, %al
  call hex_digit
  mov %bl, %al
  and $0x0f, %al
hex_digit:
  add $'0', %al
  cmp $'9', %al
  jbe 5f
  add $7, %al
5:
  call putc
  ret

banner:      .asciz "vsl-farm: booted "
noname:      .asciz "<no host name in sector 1>"
disk_msg:    .asciz "vsl-farm: disk "
colon:       .asciz ": "
sectors_msg: .asciz " sectors ("
mib_msg:     .asciz " MiB)\r\n"
ready_msg:   .asciz "vsl-farm: ready, "
disks_msg:   .asciz " disks\r\n"
crlf:        .asciz "\r\n"
marker:      .asciz "VSL-FARM-HOSTNAME@1"
boot_drive:  .byte 0
drive:       .byte 0

  .org 510
  .word 0xaa55
params:  /* int 13h AH=48h result buffer, past the sector (0x7e00 is sector 1's) */
