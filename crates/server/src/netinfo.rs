//! FSCTL_QUERY_NETWORK_INTERFACE_INFO output (MS-SMB2 2.2.32.5) from the
//! host's IPv4/IPv6 interface addresses.

/// NETWORK_INTERFACE_INFO entries for every up, non-loopback address; the
/// loopback address when there is nothing else (a loopback-only host).
pub fn network_interfaces() -> Vec<u8> {
    let mut entries: Vec<(u32, std::net::IpAddr)> = Vec::new();
    let mut loopback: Vec<(u32, std::net::IpAddr)> = Vec::new();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut ifap) == 0 {
            let mut p = ifap;
            while !p.is_null() {
                let ifa = &*p;
                p = ifa.ifa_next;
                if ifa.ifa_addr.is_null() || ifa.ifa_flags & (libc::IFF_UP as u32) == 0 {
                    continue;
                }
                let index = libc::if_nametoindex(ifa.ifa_name);
                let fam = i32::from((*ifa.ifa_addr).sa_family);
                let addr = if fam == libc::AF_INET {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    std::net::IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    )))
                } else if fam == libc::AF_INET6 {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    std::net::IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                } else {
                    continue;
                };
                if ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) != 0 {
                    loopback.push((index, addr));
                } else {
                    entries.push((index, addr));
                }
            }
            libc::freeifaddrs(ifap);
        }
    }
    if entries.is_empty() {
        entries = loopback;
    }
    let mut out = Vec::with_capacity(entries.len() * 152);
    let n = entries.len();
    for (i, (index, addr)) in entries.into_iter().enumerate() {
        let next: u32 = if i + 1 < n { 152 } else { 0 };
        out.extend_from_slice(&next.to_le_bytes());
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // Capability
        out.extend_from_slice(&0u32.to_le_bytes()); // Reserved
        out.extend_from_slice(&1_000_000_000u64.to_le_bytes()); // LinkSpeed: 1 Gbit/s
        let mut sa = [0u8; 128];
        match addr {
            std::net::IpAddr::V4(a) => {
                sa[0..2].copy_from_slice(&2u16.to_le_bytes());
                sa[4..8].copy_from_slice(&a.octets());
            }
            std::net::IpAddr::V6(a) => {
                sa[0..2].copy_from_slice(&23u16.to_le_bytes());
                sa[8..24].copy_from_slice(&a.octets());
            }
        }
        out.extend_from_slice(&sa);
    }
    out
}
