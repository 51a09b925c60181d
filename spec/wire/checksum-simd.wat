(module
  (memory (export "mem") 2)
  (func (export "sum") (param $off i32) (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $end64 i32) (local $end16 i32) (local $acc v128) (local $s i64)
    (local.set $p (local.get $off))
    (local.set $end (i32.add (local.get $off) (local.get $len)))
    (local.set $end64 (i32.sub (local.get $end) (i32.const 63)))
    (local.set $end16 (i32.sub (local.get $end) (i32.const 15)))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (block $b64 (loop $l64
      (br_if $b64 (i32.ge_s (local.get $p) (local.get $end64)))
      (local.set $acc (i32x4.add (local.get $acc)
        (i32x4.add
          (i32x4.add (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p)))
                     (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 (local.get $p))))
          (i32x4.add (i32x4.extadd_pairwise_i16x8_u (v128.load offset=32 (local.get $p)))
                     (i32x4.extadd_pairwise_i16x8_u (v128.load offset=48 (local.get $p)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (br $l64)))
    (block $b16 (loop $l16
      (br_if $b16 (i32.ge_s (local.get $p) (local.get $end16)))
      (local.set $acc (i32x4.add (local.get $acc) (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l16)))
    (local.set $s (i64.add
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $acc))) (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $acc))))
      (i64.add (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $acc))) (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $acc))))))
    (block $b2 (loop $l2
      (br_if $b2 (i32.ge_s (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
      (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load16_u (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 2)))
      (br $l2)))
    (if (i32.lt_s (local.get $p) (local.get $end))
      (then (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load8_u (local.get $p)))))))
    (block $bf (loop $lf
      (br_if $bf (i64.le_u (local.get $s) (i64.const 0xffff)))
      (local.set $s (i64.add (i64.and (local.get $s) (i64.const 0xffff)) (i64.shr_u (local.get $s) (i64.const 16))))
      (br $lf)))
    (i32.or
      (i32.shl (i32.and (i32.wrap_i64 (local.get $s)) (i32.const 0xff)) (i32.const 8))
      (i32.shr_u (i32.wrap_i64 (local.get $s)) (i32.const 8))))
)
