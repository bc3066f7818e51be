//! Signing and encryption throughput per algorithm, on 64 KiB and 1 MiB
//! messages (the sizes of typical READ/WRITE payloads).
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crypto::{Cipher, CipherKey, SigningAlgorithm, SigningKey};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    for size in [64 * 1024usize, 1024 * 1024] {
        let msg = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        for alg in [
            SigningAlgorithm::HmacSha256,
            SigningAlgorithm::AesCmac,
            SigningAlgorithm::AesGmac,
        ] {
            let key = SigningKey::new(alg, &[7u8; 16]);
            g.bench_with_input(BenchmarkId::new(format!("{alg:?}"), size), &msg, |b, m| {
                b.iter(|| key.sign(black_box(m)).unwrap())
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("encrypt");
    for size in [64 * 1024usize, 1024 * 1024] {
        g.throughput(Throughput::Bytes(size as u64));
        for cipher in [
            Cipher::Aes128Ccm,
            Cipher::Aes128Gcm,
            Cipher::Aes256Ccm,
            Cipher::Aes256Gcm,
        ] {
            let key = CipherKey::new(cipher, &vec![3u8; cipher.key_len()]).unwrap();
            let nonce = [1u8; 16];
            let aad = [2u8; 32];
            let mut buf = vec![0xa5u8; size];
            g.bench_function(BenchmarkId::new(format!("{cipher:?}"), size), |b| {
                b.iter(|| {
                    key.encrypt_in_place(&nonce[..cipher.nonce_len()], &aad, black_box(&mut buf))
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
