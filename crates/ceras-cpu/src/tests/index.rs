//! Gather, Scatter, Iota and Sort.

use super::*;

#[test]
fn gather_scatter() {
    let x = f32v(&iota_f32(12)); // [3, 4]
    let idx = HostData::I64(vec![2, -1, 7]);
    let r = run1(
        Prim::Gather { axis: 0 },
        &[(x.clone(), &[3, 4]), (idx.clone(), &[3])],
    );
    assert_eq!(
        as_f32(&r),
        vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]
    );
    let r = run1(
        Prim::Gather { axis: 1 },
        &[
            (x.clone(), &[3, 4]),
            (HostData::U8(vec![3, 0, 3, 1]), &[2, 2]),
        ],
    );
    assert_eq!(
        as_f32(&r),
        vec![3.0, 0.0, 3.0, 1.0, 7.0, 4.0, 7.0, 5.0, 11.0, 8.0, 11.0, 9.0]
    );

    let upd = f32v(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]); // [3, 2]
    let ids = HostData::I32(vec![1, 1]);
    let r = run1(
        Prim::Scatter {
            axis: 1,
            mode: ScatterMode::Add,
        },
        &[
            (f32v(&[0.0; 12]), &[3, 4]),
            (ids.clone(), &[2]),
            (upd.clone(), &[3, 2]),
        ],
    );
    assert_eq!(
        as_f32(&r),
        vec![0.0, 3.0, 0.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0, 11.0, 0.0, 0.0]
    );
    let r = run1(
        Prim::Scatter {
            axis: 1,
            mode: ScatterMode::Set,
        },
        &[
            (f32v(&[0.0; 12]), &[3, 4]),
            (HostData::I32(vec![0, 9]), &[2]),
            (upd, &[3, 2]),
        ],
    );
    assert_eq!(
        as_f32(&r),
        vec![1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0]
    );
    let r = run1(
        Prim::Scatter {
            axis: 0,
            mode: ScatterMode::Add,
        },
        &[
            (HostData::I32(vec![1, 1, 1]), &[3]),
            (HostData::I64(vec![-1, 2, 2]), &[3]),
            (HostData::I32(vec![5, 6, 7]), &[3]),
        ],
    );
    assert_eq!(r, HostData::I32(vec![1, 1, 14]));
}

#[test]
fn iota_sort() {
    let r = run1(
        Prim::Iota {
            shape: vec![2, 3],
            dtype: DType::I32,
            dim: 1,
        },
        &[],
    );
    assert_eq!(r, HostData::I32(vec![0, 1, 2, 0, 1, 2]));
    let r = run1(
        Prim::Iota {
            shape: vec![2, 3],
            dtype: DType::F32,
            dim: 0,
        },
        &[],
    );
    assert_eq!(r, f32v(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]));

    let nan = f32::NAN;
    let x = f32v(&[3.0, nan, 1.0, 3.0, -1.0]);
    let r = run(
        Prim::Sort {
            axis: 0,
            descending: false,
        },
        &[(x.clone(), &[5])],
    )
    .unwrap();
    same_bits(&as_f32(&r[0]), &[-1.0, 1.0, 3.0, 3.0, nan]);
    assert_eq!(r[1], HostData::I32(vec![4, 2, 0, 3, 1]));
    let r = run(
        Prim::Sort {
            axis: 0,
            descending: true,
        },
        &[(x, &[5])],
    )
    .unwrap();
    same_bits(&as_f32(&r[0]), &[nan, 3.0, 3.0, 1.0, -1.0]);
    assert_eq!(r[1], HostData::I32(vec![1, 0, 3, 2, 4]));
    // Along a non-last axis.
    let r = run(
        Prim::Sort {
            axis: 0,
            descending: false,
        },
        &[(HostData::I32(vec![3, 1, 2, 0, 1, 5]), &[3, 2])],
    )
    .unwrap();
    assert_eq!(r[0], HostData::I32(vec![1, 0, 2, 1, 3, 5]));
    assert_eq!(r[1], HostData::I32(vec![2, 1, 1, 0, 0, 2]));
}

#[test]
fn scatter_add_into_one_block_in_parallel() {
    // One outer block past the parallel threshold: tasks own row ranges, so
    // repeated indices must still all land, in index order; out-of-range
    // indices are dropped. Non-integral values make the order visible.
    let (n, b, ni) = (1000usize, 64usize, 3000usize);
    let ids: Vec<i64> = (0..ni as i64)
        .map(|i| match i % 50 {
            0 => -3,
            1 => n as i64 + 5,
            2 => 7,
            _ => (i * 7919) % n as i64,
        })
        .collect();
    let x: Vec<f32> = (0..n * b).map(|i| (i % 13) as f32 * 0.1).collect();
    let upd: Vec<f32> = (0..ni * b).map(|i| ((i * 31) % 97) as f32 / 7.0).collect();
    let mut want = x.clone();
    for (ii, &i) in ids.iter().enumerate() {
        if (0..n as i64).contains(&i) {
            for c in 0..b {
                want[i as usize * b + c] += upd[ii * b + c];
            }
        }
    }
    let r = run1(
        Prim::Scatter {
            axis: 0,
            mode: ScatterMode::Add,
        },
        &[
            (f32v(&x), &[n, b]),
            (HostData::I64(ids), &[ni]),
            (f32v(&upd), &[ni, b]),
        ],
    );
    let got = as_f32(&r);
    assert!(
        got.iter()
            .zip(&want)
            .all(|(g, w)| g.to_bits() == w.to_bits()),
        "parallel scatter-add differs from the sequential loop"
    );
}
