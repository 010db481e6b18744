import base64

import pytest

from carehaven.errors import ConfigurationError
from carehaven.haven.keys import MasterKey, create_key_file, load_master_key


def test_key_file_is_owner_only_and_loads(tmp_path):
    key = create_key_file(tmp_path / "keys" / "haven.key")
    assert (tmp_path / "keys" / "haven.key").stat().st_mode & 0o077 == 0
    assert load_master_key(tmp_path / "keys" / "haven.key", None) == key


def test_key_file_is_never_overwritten(tmp_path):
    create_key_file(tmp_path / "k")
    with pytest.raises(FileExistsError):
        create_key_file(tmp_path / "k")


def test_a_readable_key_file_is_refused(tmp_path):
    path = tmp_path / "k"
    create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        load_master_key(path, None)


def test_environment_key_wins_and_is_checked(tmp_path):
    material = bytes(range(32))
    key = load_master_key(tmp_path / "absent", base64.b64encode(material).decode())
    assert key.material == material
    with pytest.raises(ConfigurationError, match="32-byte"):
        load_master_key(tmp_path / "absent", "c2hvcnQ=")


def test_purposes_get_different_keys_and_repr_hides_material():
    key = MasterKey(bytes(32))
    assert key.derive("landing/v1") != key.derive("pseudonym/NDEC")
    assert len(key.derive("landing/v1")) == 32
    assert "\\x00" not in repr(key) and key.key_id in repr(key)
