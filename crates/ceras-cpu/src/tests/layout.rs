//! Broadcast, reshape, transpose, slice, reverse, pad, concatenate.

use super::*;

#[test]
fn broadcast_reshape_transpose() {
    let r = run1(
        Prim::Broadcast {
            shape: vec![2, 3],
            dims: vec![1],
        },
        &[(f32v(&[1.0, 2.0, 3.0]), &[3])],
    );
    assert_eq!(as_f32(&r), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let r = run1(
        Prim::Broadcast {
            shape: vec![3, 2],
            dims: vec![0, 1],
        },
        &[(f32v(&[1.0, 2.0, 3.0]), &[3, 1])],
    );
    assert_eq!(as_f32(&r), vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    let r = run1(
        Prim::Broadcast {
            shape: vec![2, 2],
            dims: vec![],
        },
        &[(f32v(&[7.0]), &[])],
    );
    assert_eq!(as_f32(&r), vec![7.0; 4]);
    let r = run1(Prim::Reshape(vec![3, 2]), &[(f32v(&iota_f32(6)), &[2, 3])]);
    assert_eq!(as_f32(&r), iota_f32(6));

    // Tiled 2-D transpose and a general 3-D one, against index math.
    for &(m, n) in &[(67usize, 45usize), (300, 500), (1, 9), (9, 1)] {
        let x = iota_f32(m * n);
        let r = as_f32(&run1(Prim::Transpose(vec![1, 0]), &[(f32v(&x), &[m, n])]));
        for i in 0..n {
            for j in 0..m {
                assert_eq!(r[i * m + j], x[j * n + i]);
            }
        }
    }
    let (a, b, c) = (4, 5, 33);
    let x = iota_f32(a * b * c);
    let r = as_f32(&run1(
        Prim::Transpose(vec![2, 0, 1]),
        &[(f32v(&x), &[a, b, c])],
    ));
    for k in 0..c {
        for i in 0..a {
            for j in 0..b {
                assert_eq!(r[(k * a + i) * b + j], x[(i * b + j) * c + k]);
            }
        }
    }
    let r = run1(
        Prim::Transpose(vec![1, 0]),
        &[(HostData::Bool(vec![true, false, false, false]), &[2, 2])],
    );
    assert_eq!(r, HostData::Bool(vec![true, false, false, false]));
}

#[test]
fn slice_reverse_pad_concat() {
    let x = iota_f32(20); // [4, 5]
    let r = run1(
        Prim::Slice {
            start: vec![1, 0],
            limit: vec![4, 5],
            strides: vec![2, 2],
        },
        &[(f32v(&x), &[4, 5])],
    );
    assert_eq!(as_f32(&r), vec![5.0, 7.0, 9.0, 15.0, 17.0, 19.0]);
    let r = run1(Prim::Reverse(vec![1]), &[(f32v(&iota_f32(6)), &[2, 3])]);
    assert_eq!(as_f32(&r), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    let r = run1(Prim::Reverse(vec![0, 1]), &[(f32v(&iota_f32(6)), &[2, 3])]);
    assert_eq!(as_f32(&r), vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);

    // Pad [1, 2, 3] with lo=-1 (crop), interior 1, hi=2, value 9: [1,2,3] -> [1,9,2,9,3] -> crop -> [9,2,9,3,9,9]
    let pad = |x: &[f32], lo: i64, hi: i64, int: usize| {
        as_f32(&run1(
            Prim::Pad {
                lo: vec![lo],
                hi: vec![hi],
                interior: vec![int],
            },
            &[(f32v(x), &[x.len()]), (f32v(&[9.0]), &[])],
        ))
    };
    assert_eq!(
        pad(&[1.0, 2.0, 3.0], -1, 2, 1),
        vec![9.0, 2.0, 9.0, 3.0, 9.0, 9.0]
    );
    assert_eq!(pad(&[1.0, 2.0, 3.0], 2, -2, 0), vec![9.0, 9.0, 1.0]);
    assert_eq!(pad(&[1.0, 2.0, 3.0], -2, -1, 2), vec![9.0, 2.0, 9.0, 9.0]);
    assert_eq!(pad(&[1.0, 2.0, 3.0], -3, 0, 0), Vec::<f32>::new());
    // 2-D pad.
    let r = run1(
        Prim::Pad {
            lo: vec![1, 0],
            hi: vec![0, 1],
            interior: vec![0, 0],
        },
        &[
            (HostData::I32(vec![1, 2, 3, 4]), &[2, 2]),
            (HostData::I32(vec![0]), &[]),
        ],
    );
    assert_eq!(r, HostData::I32(vec![0, 0, 0, 1, 2, 0, 3, 4, 0]));

    let r = run1(
        Prim::Concatenate(1),
        &[
            (f32v(&[1.0, 2.0]), &[2, 1]),
            (f32v(&[3.0, 4.0, 5.0, 6.0]), &[2, 2]),
            (f32v(&[]), &[2, 0]),
        ],
    );
    assert_eq!(as_f32(&r), vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    let r = run1(
        Prim::Concatenate(0),
        &[
            (HostData::U8(vec![1]), &[1]),
            (HostData::U8(vec![2, 3]), &[2]),
        ],
    );
    assert_eq!(r, HostData::U8(vec![1, 2, 3]));
}

#[test]
fn concatenate_overwrites_a_reused_buffer() {
    // 2 × 40,000 f32 = 320 KB: the output comes from the buffer cache, seeded
    // here with a stale buffer of the same length full of NaNs.
    let n = 40_000;
    pool::give(HostData::F32(vec![f32::NAN; 2 * n]));
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
    let r = as_f32(&run1(
        Prim::Concatenate(1),
        &[(f32v(&a), &[100, 400]), (f32v(&b), &[100, 400])],
    ));
    for row in 0..100 {
        assert_eq!(
            &r[row * 800..row * 800 + 400],
            &a[row * 400..row * 400 + 400]
        );
        assert_eq!(
            &r[row * 800 + 400..row * 800 + 800],
            &b[row * 400..row * 400 + 400]
        );
    }
}
