//! `rsmbd check-config` output: the effective configuration, every key with
//! its value, in smb.conf syntax that reads back to the same configuration.

use std::fmt::Write;

use server::config::ShareConfig;

use super::keys;
use super::Conf;

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A list value; names with a space or comma are quoted so they read back whole.
fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| {
            if i.contains([' ', ',', '\t']) {
                format!("\"{i}\"")
            } else {
                i.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The effective configuration as smb.conf text: [global] then each share.
pub fn render(conf: &Conf) -> String {
    let s = &conf.server;
    let mut out = String::new();
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(out, "\t{k} = {v}");
    };
    // Written to a String: the writes cannot fail.
    let listen: Vec<String> = s.listen.iter().map(|a| a.to_string()).collect();
    let mut text = String::from("[global]\n");
    let _ = writeln!(text, "\t# listening on: {}", listen.join(" "));
    kv("tcp port", &conf.tcp_port.to_string());
    kv("interfaces", &list(&conf.interfaces));
    kv("bind interfaces only", yes_no(conf.bind_interfaces_only));
    kv("server string", &s.server_string);
    kv("netbios name", &s.netbios_name);
    kv("workgroup", &s.workgroup);
    kv("server min protocol", &keys::protocol_name(s.min_dialect));
    kv("server max protocol", &keys::protocol_name(s.max_dialect));
    kv("server signing", keys::signing_name(s.signing));
    kv("map to guest", keys::map_to_guest_name(s.map_to_guest));
    kv("guest account", &s.guest_account);
    kv("smb2 max read", &s.max_read.to_string());
    kv("smb2 max write", &s.max_write.to_string());
    kv("smb2 max trans", &s.max_trans.to_string());
    kv("max connections", &s.max_connections.to_string());
    kv("smb2 leases", if s.leases { "yes" } else { "no" });
    kv(
        "smb3 directory leases",
        if s.directory_leases { "yes" } else { "no" },
    );
    kv("server smb encrypt", keys::encryption_name(s.encryption));
    kv(
        "server smb3 encryption algorithms",
        &keys::cipher_names(&s.ciphers),
    );
    kv(
        "server smb3 signing algorithms",
        &keys::signing_algorithm_names(&s.signing_algorithms),
    );
    kv("users file", &conf.users_file.display().to_string());
    text.push_str(&out);
    for share in &s.shares {
        text.push('\n');
        text.push_str(&render_share(share));
    }
    text
}

fn render_share(s: &ShareConfig) -> String {
    let mut out = format!("[{}]\n", s.name);
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(out, "\t{k} = {v}");
    };
    kv("path", &s.path.display().to_string());
    kv("comment", &s.comment);
    kv("read only", yes_no(s.read_only));
    kv("browseable", yes_no(s.browseable));
    kv("guest ok", yes_no(s.guest_ok));
    kv("valid users", &list(&s.valid_users));
    kv("invalid users", &list(&s.invalid_users));
    kv("read list", &list(&s.read_list));
    kv("write list", &list(&s.write_list));
    kv("force user", s.force_user.as_deref().unwrap_or(""));
    kv("force group", s.force_group.as_deref().unwrap_or(""));
    kv("create mask", &format!("{:04o}", s.create_mask));
    kv("directory mask", &format!("{:04o}", s.directory_mask));
    kv("hide dot files", yes_no(s.hide_dot_files));
    let veto = if s.veto_files.is_empty() {
        String::new()
    } else {
        format!("/{}/", s.veto_files.join("/"))
    };
    kv("veto files", &veto);
    kv("server smb encrypt", keys::encryption_name(s.encryption));
    out
}
