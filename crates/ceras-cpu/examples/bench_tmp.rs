use ceras_core::backend::{Backend, BufferRef, Operand};
use ceras_core::prim::*;
use ceras_core::{DType, HostData};
use ceras_cpu::CpuBackend;
use std::time::Instant;

fn bench(name: &str, be: &CpuBackend, prim: Prim, ins: &[(HostData, Vec<usize>)], flops: f64) {
    let bufs: Vec<BufferRef> = ins
        .iter()
        .map(|(d, s)| be.from_host(d.clone(), s).unwrap())
        .collect();
    let ops: Vec<Operand<'_>> = ins
        .iter()
        .zip(&bufs)
        .map(|((d, s), b)| Operand {
            buf: b,
            shape: s,
            dtype: d.dtype(),
        })
        .collect();
    let specs: Vec<Spec> = ins
        .iter()
        .map(|(d, s)| Spec::new(s.clone(), d.dtype()))
        .collect();
    let outs = prim.infer(&specs).unwrap();
    be.execute(&prim, &ops, &outs).unwrap();
    let mut iters = 0;
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < 1.0 || iters < 3 {
        std::hint::black_box(be.execute(&prim, &ops, &outs).unwrap());
        iters += 1;
    }
    let dt = t.elapsed().as_secs_f64() / iters as f64;
    let extra = if flops > 0.0 {
        format!("  {:.1} GFLOP/s", flops / dt / 1e9)
    } else {
        String::new()
    };
    println!("{name:40} {:>10.3} us{extra}", dt * 1e6);
}

fn f32s(n: usize) -> HostData {
    HostData::F32(
        (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect(),
    )
}

fn main() {
    let be = CpuBackend::new();
    let which: Vec<String> = std::env::args().skip(1).collect();
    let on = |s: &str| which.is_empty() || which.iter().any(|w| s.contains(w.as_str()));
    if on("tiny") {
        bench(
            "tiny add f32[8]",
            &be,
            Prim::Binary(BinaryOp::Add),
            &[(f32s(8), vec![8]), (f32s(8), vec![8])],
            0.0,
        );
        bench(
            "tiny exp f32[8]",
            &be,
            Prim::Unary(UnaryOp::Exp),
            &[(f32s(8), vec![8])],
            0.0,
        );
        bench(
            "tiny sum f32[8]",
            &be,
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
            },
            &[(f32s(8), vec![8])],
            0.0,
        );
        bench(
            "tiny dot 4x4",
            &be,
            Prim::DotGeneral {
                lhs_contract: vec![1],
                rhs_contract: vec![0],
                lhs_batch: vec![],
                rhs_batch: vec![],
            },
            &[(f32s(16), vec![4, 4]), (f32s(16), vec![4, 4])],
            0.0,
        );
    }
    let n = 1 << 20;
    if on("elem") {
        bench(
            "add f32[1M]",
            &be,
            Prim::Binary(BinaryOp::Add),
            &[(f32s(n), vec![n]), (f32s(n), vec![n])],
            0.0,
        );
        bench(
            "add f32[64K-1]",
            &be,
            Prim::Binary(BinaryOp::Add),
            &[(f32s(65535), vec![65535]), (f32s(65535), vec![65535])],
            0.0,
        );
        bench(
            "exp f32[1M]",
            &be,
            Prim::Unary(UnaryOp::Exp),
            &[(f32s(n), vec![n])],
            0.0,
        );
        bench(
            "tanh f32[1M]",
            &be,
            Prim::Unary(UnaryOp::Tanh),
            &[(f32s(n), vec![n])],
            0.0,
        );
        bench(
            "cast f32->f16 [1M]",
            &be,
            Prim::Cast(DType::F16),
            &[(f32s(n), vec![n])],
            0.0,
        );
        bench(
            "gt f32[1M]",
            &be,
            Prim::Compare(CmpOp::Gt),
            &[(f32s(n), vec![n]), (f32s(n), vec![n])],
            0.0,
        );
        bench(
            "broadcast [1024]->[1024,1024]",
            &be,
            Prim::Broadcast {
                shape: vec![1024, 1024],
                dims: vec![1],
            },
            &[(f32s(1024), vec![1024])],
            0.0,
        );
        bench(
            "broadcast [1024,1]->[1024,1024]",
            &be,
            Prim::Broadcast {
                shape: vec![1024, 1024],
                dims: vec![0, 1],
            },
            &[(f32s(1024), vec![1024, 1])],
            0.0,
        );
    }
    if on("transpose") {
        bench(
            "transpose 2000x2000",
            &be,
            Prim::Transpose(vec![1, 0]),
            &[(f32s(2000 * 2000), vec![2000, 2000])],
            0.0,
        );
        bench(
            "transpose 512x8192",
            &be,
            Prim::Transpose(vec![1, 0]),
            &[(f32s(1 << 22), vec![512, 8192])],
            0.0,
        );
        bench(
            "transpose 2048x2048",
            &be,
            Prim::Transpose(vec![1, 0]),
            &[(f32s(2048 * 2048), vec![2048, 2048])],
            0.0,
        );
        bench(
            "transpose [64,128,256] (0,2,1)",
            &be,
            Prim::Transpose(vec![0, 2, 1]),
            &[(f32s(1 << 21), vec![64, 128, 256])],
            0.0,
        );
        bench(
            "transpose [32,64,32,32] (0,2,3,1)",
            &be,
            Prim::Transpose(vec![0, 2, 3, 1]),
            &[(f32s(1 << 21), vec![32, 64, 32, 32])],
            0.0,
        );
    }
    if on("reduce") {
        bench(
            "sum f32[4M] all",
            &be,
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
            },
            &[(f32s(4 * n), vec![4 * n])],
            0.0,
        );
        bench(
            "sum [2048,2048] axis1",
            &be,
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![1],
            },
            &[(f32s(4 * n), vec![2048, 2048])],
            0.0,
        );
        bench(
            "sum [2048,2048] axis0",
            &be,
            Prim::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
            },
            &[(f32s(4 * n), vec![2048, 2048])],
            0.0,
        );
        bench(
            "max [2048,2048] axis1",
            &be,
            Prim::Reduce {
                op: ReduceOp::Max,
                axes: vec![1],
            },
            &[(f32s(4 * n), vec![2048, 2048])],
            0.0,
        );
        bench(
            "argmax [2048,2048] axis1",
            &be,
            Prim::ArgReduce {
                op: ArgOp::ArgMax,
                axis: 1,
                index_dtype: DType::I32,
            },
            &[(f32s(4 * n), vec![2048, 2048])],
            0.0,
        );
        bench(
            "softmax-decomp max [1024,1000]",
            &be,
            Prim::Reduce {
                op: ReduceOp::Max,
                axes: vec![1],
            },
            &[(f32s(1024000), vec![1024, 1000])],
            0.0,
        );
    }
    if on("matmul") {
        for &m in &[64usize, 256, 1024] {
            bench(
                &format!("matmul f32 {m}^3"),
                &be,
                Prim::DotGeneral {
                    lhs_contract: vec![1],
                    rhs_contract: vec![0],
                    lhs_batch: vec![],
                    rhs_batch: vec![],
                },
                &[(f32s(m * m), vec![m, m]), (f32s(m * m), vec![m, m])],
                2.0 * (m * m * m) as f64,
            );
        }
        let m = 1024;
        bench(
            "matmul f32 1024^3 rhs^T",
            &be,
            Prim::DotGeneral {
                lhs_contract: vec![1],
                rhs_contract: vec![1],
                lhs_batch: vec![],
                rhs_batch: vec![],
            },
            &[(f32s(m * m), vec![m, m]), (f32s(m * m), vec![m, m])],
            2.0 * (m * m * m) as f64,
        );
        bench(
            "batched matmul 64x(128^3)",
            &be,
            Prim::DotGeneral {
                lhs_contract: vec![2],
                rhs_contract: vec![1],
                lhs_batch: vec![0],
                rhs_batch: vec![0],
            },
            &[
                (f32s(64 * 128 * 128), vec![64, 128, 128]),
                (f32s(64 * 128 * 128), vec![64, 128, 128]),
            ],
            2.0 * 64.0 * 128f64.powi(3),
        );
        bench(
            "dense [256,784]x[784,128]",
            &be,
            Prim::DotGeneral {
                lhs_contract: vec![1],
                rhs_contract: vec![0],
                lhs_batch: vec![],
                rhs_batch: vec![],
            },
            &[
                (f32s(256 * 784), vec![256, 784]),
                (f32s(784 * 128), vec![784, 128]),
            ],
            2.0 * 256.0 * 784.0 * 128.0,
        );
    }
    if on("conv") {
        let (nb, c, h, o) = (8, 64, 56, 64);
        let flops = 2.0 * (nb * o * h * h * c * 9) as f64;
        bench(
            "conv [8,64,56,56]x[64,64,3,3] pad1",
            &be,
            Prim::Conv {
                strides: vec![1, 1],
                padding: vec![(1, 1), (1, 1)],
                lhs_dilation: vec![1, 1],
                rhs_dilation: vec![1, 1],
                groups: 1,
            },
            &[
                (f32s(nb * c * h * h), vec![nb, c, h, h]),
                (f32s(o * c * 9), vec![o, c, 3, 3]),
            ],
            flops,
        );
        bench(
            "conv mnist [128,1,28,28]x[32,1,3,3]",
            &be,
            Prim::Conv {
                strides: vec![1, 1],
                padding: vec![(0, 0), (0, 0)],
                lhs_dilation: vec![1, 1],
                rhs_dilation: vec![1, 1],
                groups: 1,
            },
            &[
                (f32s(128 * 784), vec![128, 1, 28, 28]),
                (f32s(32 * 9), vec![32, 1, 3, 3]),
            ],
            2.0 * (128 * 32 * 26 * 26 * 9) as f64,
        );
        bench(
            "depthwise [8,64,56,56] g64",
            &be,
            Prim::Conv {
                strides: vec![1, 1],
                padding: vec![(1, 1), (1, 1)],
                lhs_dilation: vec![1, 1],
                rhs_dilation: vec![1, 1],
                groups: 64,
            },
            &[
                (f32s(nb * c * h * h), vec![nb, c, h, h]),
                (f32s(o * 9), vec![o, 1, 3, 3]),
            ],
            0.0,
        );
        bench(
            "maxpool 2x2 [8,64,56,56]",
            &be,
            Prim::ReduceWindow {
                op: WindowOp::Max,
                window: vec![1, 1, 2, 2],
                strides: vec![1, 1, 2, 2],
                padding: vec![(0, 0); 4],
            },
            &[(f32s(nb * c * h * h), vec![nb, c, h, h])],
            0.0,
        );
        bench(
            "maxpool grad 2x2 [8,64,56,56]",
            &be,
            Prim::SelectAndScatterAdd {
                window: vec![1, 1, 2, 2],
                strides: vec![1, 1, 2, 2],
                padding: vec![(0, 0); 4],
            },
            &[
                (f32s(nb * c * h * h), vec![nb, c, h, h]),
                (f32s(nb * c * 28 * 28), vec![nb, c, 28, 28]),
            ],
            0.0,
        );
    }
    if on("index") {
        bench(
            "gather [50000,128] take 4096 rows",
            &be,
            Prim::Gather { axis: 0 },
            &[
                (f32s(50000 * 128), vec![50000, 128]),
                (
                    HostData::I32((0..4096).map(|i| (i * 13) % 50000).collect()),
                    vec![4096],
                ),
            ],
            0.0,
        );
        bench(
            "sort f32[1M]",
            &be,
            Prim::Sort {
                axis: 0,
                descending: false,
            },
            &[(f32s(n), vec![n])],
            0.0,
        );
        bench(
            "cumsum [1024,1024] axis1",
            &be,
            Prim::Cumulative {
                op: CumOp::Sum,
                axis: 1,
                reverse: false,
            },
            &[(f32s(n), vec![1024, 1024])],
            0.0,
        );
    }
}
