//! Parser and encoder cost on the request hot path: header, compound split,
//! READ/WRITE/CREATE request parsing and a response header encode.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wire::header::{split_compound, Header, FLAGS_RELATED_OPERATIONS};
use wire::Writer;

fn header(cmd: u16, next: u32, flags: u32) -> Vec<u8> {
    let mut m = Vec::new();
    Header {
        command: cmd,
        next_command: next,
        flags,
        message_id: 7,
        tree_id: 1,
        session_id: 9,
        ..Default::default()
    }
    .encode(&mut m);
    m
}

fn read_request() -> Vec<u8> {
    let mut m = header(8, 0, 0);
    let mut w = Writer::new(&mut m);
    w.u16(49);
    w.u8(0);
    w.u8(0);
    w.u32(65536);
    w.u64(4096);
    w.u64(1);
    w.u64(1);
    w.u32(0);
    w.u32(0);
    w.u32(0);
    w.u16(0);
    w.u16(0);
    w.u8(0);
    m
}

fn write_request(len: usize) -> Vec<u8> {
    let mut m = header(9, 0, 0);
    let mut w = Writer::new(&mut m);
    w.u16(49);
    w.u16(112);
    w.u32(len as u32);
    w.u64(0);
    w.u64(1);
    w.u64(1);
    w.u32(0);
    w.u32(0);
    w.u16(0);
    w.u16(0);
    w.u32(0);
    w.zeros(len);
    m
}

fn create_request() -> Vec<u8> {
    let name: Vec<u8> = "dir\\some file name.txt"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut ctx = Vec::new();
    wire::create::encode_contexts(&mut ctx, &[(b"MxAc", vec![]), (b"QFid", vec![])]);
    let mut m = header(5, 0, 0);
    let mut w = Writer::new(&mut m);
    w.u16(57);
    w.u8(0);
    w.u8(0);
    w.u32(2);
    w.zeros(16);
    w.u32(0x0012_019f);
    w.u32(0x80);
    w.u32(7);
    w.u32(3);
    w.u32(0x40);
    w.u16(120);
    w.u16(name.len() as u16);
    let ctx_off = (120 + name.len()).div_ceil(8) * 8;
    w.u32(ctx_off as u32);
    w.u32(ctx.len() as u32);
    w.bytes(&name);
    w.align_from(0, 8);
    w.bytes(&ctx);
    m
}

fn bench(c: &mut Criterion) {
    let read = read_request();
    c.bench_function("header_parse", |b| {
        b.iter(|| Header::parse(black_box(&read)).unwrap())
    });
    c.bench_function("read_request_parse", |b| {
        b.iter(|| wire::read::ReadRequest::parse(black_box(&read)).unwrap())
    });
    let create = create_request();
    c.bench_function("create_request_parse", |b| {
        b.iter(|| wire::create::CreateRequest::parse(black_box(&create)).unwrap())
    });
    let write = write_request(65536);
    let mut g = c.benchmark_group("write_request_parse");
    g.throughput(Throughput::Bytes(write.len() as u64));
    g.bench_function("64KiB", |b| {
        b.iter(|| wire::write::WriteRequest::parse(black_box(&write)).unwrap())
    });
    g.finish();
    let mut chain = header(5, 0, 0);
    chain.truncate(0);
    for i in 0..3u32 {
        let mut e = header(
            6,
            if i < 2 { 88 } else { 0 },
            if i > 0 { FLAGS_RELATED_OPERATIONS } else { 0 },
        );
        e.resize(88, 0);
        chain.extend_from_slice(&e);
    }
    c.bench_function("split_compound_3", |b| {
        b.iter(|| split_compound(black_box(&chain)).unwrap().len())
    });
    let h = Header {
        command: 8,
        credits: 32,
        message_id: 99,
        session_id: 9,
        tree_id: 1,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(64);
    c.bench_function("header_encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&h).encode(&mut out);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
