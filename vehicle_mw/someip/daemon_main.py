"""Entry point of the someipy daemon process: ``python -m vehicle_mw.someip.daemon_main --config FILE``.

someipy's daemon with vehicle_mw's workarounds and extensions installed (see
:mod:`vehicle_mw.someip.daemon`); started by :class:`~vehicle_mw.someip.daemon.DaemonProcess`.
"""

from __future__ import annotations


def main() -> None:
    import someipy.someipyd

    from vehicle_mw.someip import _someipy_fixes
    from vehicle_mw.someip.daemon import install_extensions

    _someipy_fixes.apply_all()
    install_extensions()
    someipy.someipyd.main()


if __name__ == "__main__":
    main()
