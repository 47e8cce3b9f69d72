//! Which volume capabilities (access type and access mode) this driver can honour.

use crate::csi::v1::VolumeCapability;
use crate::csi::v1::volume_capability::access_mode::Mode;
use crate::csi::v1::volume_capability::{AccessType, MountVolume};

/// Why a capability cannot be honoured; the message goes to the caller as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("volume capability has no access type (mount or block)")]
    MissingAccessType,
    #[error(
        "block access is not supported: hostpath volumes are directories, ask for mount access"
    )]
    Block,
    #[error("volume capability has no access mode")]
    MissingAccessMode,
    #[error("access mode {0} is not supported")]
    UnsupportedMode(String),
    #[error("filesystem type {0:?} is not supported: hostpath volumes use the node's filesystem")]
    FsType(String),
}

/// Checks one capability; `Ok` means a volume can be created, staged and published with it.
pub fn check(capability: &VolumeCapability) -> Result<(), Error> {
    match &capability.access_type {
        None => return Err(Error::MissingAccessType),
        Some(AccessType::Block(_)) => return Err(Error::Block),
        Some(AccessType::Mount(MountVolume { fs_type, .. })) => {
            if !(fs_type.is_empty() || fs_type == "ext4" || fs_type == "xfs") {
                return Err(Error::FsType(fs_type.clone()));
            }
        }
    }
    let mode = capability
        .access_mode
        .as_ref()
        .ok_or(Error::MissingAccessMode)?
        .mode();
    match mode {
        Mode::SingleNodeWriter
        | Mode::SingleNodeReaderOnly
        | Mode::MultiNodeReaderOnly
        | Mode::MultiNodeSingleWriter
        | Mode::MultiNodeMultiWriter
        | Mode::SingleNodeSingleWriter
        | Mode::SingleNodeMultiWriter => Ok(()),
        Mode::Unknown => Err(Error::UnsupportedMode(mode.as_str_name().to_owned())),
    }
}

/// Checks every capability of a request.
pub fn check_all(capabilities: &[VolumeCapability]) -> Result<(), Error> {
    capabilities.iter().try_for_each(check)
}

/// Whether the access mode only allows reading, so the volume must be mounted read-only.
pub fn is_read_only(capability: &VolumeCapability) -> bool {
    matches!(
        capability.access_mode.as_ref().map(|m| m.mode()),
        Some(Mode::SingleNodeReaderOnly | Mode::MultiNodeReaderOnly)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::v1::volume_capability::{AccessMode, BlockVolume};

    fn mount(mode: Mode) -> VolumeCapability {
        VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume::default())),
            access_mode: Some(AccessMode { mode: mode as i32 }),
        }
    }

    #[test]
    fn mount_access_with_every_known_mode_is_accepted() {
        for mode in [
            Mode::SingleNodeWriter,
            Mode::SingleNodeReaderOnly,
            Mode::MultiNodeReaderOnly,
            Mode::MultiNodeSingleWriter,
            Mode::MultiNodeMultiWriter,
            Mode::SingleNodeSingleWriter,
            Mode::SingleNodeMultiWriter,
        ] {
            assert_eq!(check(&mount(mode)), Ok(()), "{mode:?}");
        }
    }

    #[test]
    fn block_access_is_refused_with_a_reason() {
        let cap = VolumeCapability {
            access_type: Some(AccessType::Block(BlockVolume {})),
            ..mount(Mode::SingleNodeWriter)
        };
        assert_eq!(check(&cap), Err(Error::Block));
        assert!(Error::Block.to_string().contains("mount access"));
    }

    #[test]
    fn missing_parts_and_unknown_modes_are_refused() {
        let mut cap = mount(Mode::SingleNodeWriter);
        cap.access_mode = None;
        assert_eq!(check(&cap), Err(Error::MissingAccessMode));
        cap.access_type = None;
        assert_eq!(check(&cap), Err(Error::MissingAccessType));
        assert!(matches!(
            check(&mount(Mode::Unknown)),
            Err(Error::UnsupportedMode(_))
        ));
    }

    #[test]
    fn only_reader_modes_are_read_only() {
        assert!(is_read_only(&mount(Mode::MultiNodeReaderOnly)));
        assert!(is_read_only(&mount(Mode::SingleNodeReaderOnly)));
        assert!(!is_read_only(&mount(Mode::MultiNodeMultiWriter)));
        assert!(!is_read_only(&mount(Mode::SingleNodeWriter)));
    }
}
