//! The `config` target's check: config text (TOML) through what `switchyard
//! check` and every reload run before plugins are loaded: parsing,
//! validation of references and values, secrets resolution and the key
//! table. A config file is operator input, and a reload of a broken one must
//! be refused with an error, never crash the gateway that keeps serving the
//! old one. Files named in the input are not read (the fields are cleared):
//! reading is `config::read_capped`'s job and has its own test.

use switchyard::config::Config;

/// Never a panic, whatever the text.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut cfg) = Config::parse(text) else {
        return;
    };
    for p in cfg.providers.values_mut() {
        p.api_key_file = None;
    }
    for k in cfg.keys.values_mut() {
        k.key_file = None;
    }
    cfg.server.admin_key_file = None;
    cfg.limits.ca_file = None;
    if cfg.validate(&|_, _| true).is_err() {
        return;
    }
    let _ = switchyard::config::keys::validate(&cfg);
    let _ = cfg.secrets();
    let _ = switchyard::keys::KeyTable::from_config(&cfg.keys, &cfg.server);
}
