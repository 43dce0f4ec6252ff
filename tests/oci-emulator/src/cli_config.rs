//! Writing an OCI CLI/SDK config file and key for the emulator (tests, the demo).

use std::io;
use std::path::{Path, PathBuf};

use crate::keys::TestKey;

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    std::fs::write(path, contents)?;
    // The CLI warns about (and some versions refuse) group/world-readable key and config files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes `oci_api_key.pem` and `config` (profile `DEFAULT`) into `dir`; returns the config path.
pub fn write(
    dir: &Path,
    key: &TestKey,
    tenancy_id: &str,
    user_id: &str,
    region: &str,
) -> io::Result<PathBuf> {
    let key_path = dir.join("oci_api_key.pem");
    write_private(&key_path, key.private_pem())?;
    let config_path = dir.join("config");
    let config = format!(
        "[DEFAULT]\nuser={user_id}\nfingerprint={}\ntenancy={tenancy_id}\nregion={region}\nkey_file={}\n",
        key.fingerprint(),
        key_path.display()
    );
    write_private(&config_path, &config)?;
    Ok(config_path)
}
