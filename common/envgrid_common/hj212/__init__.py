"""HJ 212 (2005/2017/2025), the wire contract shared by the gateway and the simulator.

One module per job: ``crc`` (three CRC modes and the detector), ``frame`` (one packet checked
strictly), ``cp`` (the data area into factors), ``stream`` (frames out of a byte stream),
``split`` (PNUM/PNO packets joined), ``build`` (answers, heartbeats, uploads), ``codes``
(pollutant codes to metrics and units), ``tolerance``, ``edition``, ``times``, ``errors``.
"""

from envgrid_common.hj212.build import (
    ExeRtn,
    QnRtn,
    build_frame,
    data_answer,
    execution_result,
    heartbeat,
    notify_answer,
    request_answer,
    required_answer,
    upload_frames,
)
from envgrid_common.hj212.codes import CODES, PollutantCode, to_metric
from envgrid_common.hj212.cp import CpData, parse_cp
from envgrid_common.hj212.crc import CrcMode, crc_modbus, crc_standard, crc_text, detect_crc
from envgrid_common.hj212.edition import Edition, edition_of, make_flag
from envgrid_common.hj212.errors import EXPLANATIONS, FrameError, Reason
from envgrid_common.hj212.frame import Frame, parse_frame
from envgrid_common.hj212.split import SplitReassembler
from envgrid_common.hj212.stream import StreamFramer
from envgrid_common.hj212.times import format_time, parse_time, valid_time
from envgrid_common.hj212.tolerance import Tolerance

__all__ = [
    "CODES",
    "EXPLANATIONS",
    "CpData",
    "CrcMode",
    "Edition",
    "ExeRtn",
    "Frame",
    "FrameError",
    "PollutantCode",
    "QnRtn",
    "Reason",
    "SplitReassembler",
    "StreamFramer",
    "Tolerance",
    "build_frame",
    "crc_modbus",
    "crc_standard",
    "crc_text",
    "data_answer",
    "detect_crc",
    "edition_of",
    "execution_result",
    "format_time",
    "heartbeat",
    "make_flag",
    "notify_answer",
    "parse_cp",
    "parse_frame",
    "parse_time",
    "request_answer",
    "required_answer",
    "to_metric",
    "upload_frames",
    "valid_time",
]
