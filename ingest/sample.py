"""A small station batch for ``make demo`` and for tests on a clone without ``../shared``.

Same folder layout and ``manifest.json`` as the shared corpus generator (``make_corpus.py``),
but two clean cases and nine pages, so it runs in about a second. The first case and its
plaintiff (``SAMPLE_READER``) are the same for every seed, so the demo can log in as them;
the seed varies the other names, amounts, dates and the batch id. All persons are fictional.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw, ImageFont

FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
FONT_INDEX = 2  # the Simplified-Chinese face of the collection
COURT, COURT_CODE = "广东省广州市天河区人民法院", "粤0106"
CASE_NUMBER = "（2024）粤0106民初1234号"
SAMPLE_READER = {"name": "陈志明", "id_number": "440106198503124518", "case_number": CASE_NUMBER}
READER_ADDR, DEFENDANT_ADDR = "广东省广州市天河区天河路208号", "广东省广州市白云区沙太路66号"
STATION = "GZZY-SM03"
TZ = timezone(timedelta(hours=8))
JPEG_QUALITY = 85
SURNAMES, GIVEN = "王李张刘杨黄赵吴周徐孙马朱胡郭何林罗高梁", "伟芳敏静丽强磊军洋勇艳杰娟涛超霞平刚华"
TOKEN = re.compile(r"[A-Za-z0-9.,%:\-]+|.")
NO_START = set("，。、；：？！）》”")
Page = list[str]  # one markup line per block, see _parse


@dataclass(frozen=True)
class _Doc:
    case_number: str
    seq: int
    doc_type: str
    title: str
    author: str
    doc_date: date
    pages: list[Page]
    footer: str = "- {i} -"
    volume: str = "正卷"


def _ymd(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _cn_date(d: date) -> str:
    """二〇二四年五月二十三日, as judges date their signatures."""
    digit = "〇一二三四五六七八九"

    def num(n: int) -> str:
        tens = ("" if n < 20 else digit[n // 10]) + ("十" if n >= 10 else "")
        return tens + (digit[n % 10] if n % 10 or n < 10 else "")

    return "".join(digit[int(c)] for c in str(d.year)) + f"年{num(d.month)}月{num(d.day)}日"


def _id_number(region: str, born: date, seq: int) -> str:
    """An 18-digit resident ID with a valid GB 11643 check digit, for a fictional person."""
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    s = sum(int(c) * w for c, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)))
    return body + "10X98765432"[s % 11]


def _facts(rng: random.Random) -> dict:
    """Seed-dependent names, amounts and dates shared by the two cases."""
    name = lambda: rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))  # noqa: E731
    born = date(rng.randint(1965, 1995), rng.randint(1, 12), rng.randint(1, 28))
    did = _id_number("440111", born, rng.randint(100, 999))
    filed = date(2024, 3, 1) + timedelta(days=rng.randint(0, 20))
    return dict(
        P=SAMPLE_READER["name"], pid=SAMPLE_READER["id_number"], D=name(), did=did, dborn=born,
        dsex="男" if int(did[16]) % 2 else "女", panel=[name(), name(), name()], clerk=name(),
        exec_judge=name(), operator=name(), amt=str(rng.randint(50, 900) * 1000),
        fee=str(rng.randint(1000, 9000)), lent=date(2023, rng.randint(1, 6), rng.randint(1, 28)),
        due=date(2023, 12, 31), filed=filed, hearing=filed + timedelta(days=rng.randint(40, 50)),
        closed=filed + timedelta(days=rng.randint(70, 90)),
        exec_no=f"（2024）{COURT_CODE}执{rng.randint(2000, 9999)}号", batch_seq=rng.randint(1, 40),
    )


def _civil_docs(f: dict) -> list[_Doc]:
    P, D, (j1, j2, j3), cn, amt = f["P"], f["D"], f["panel"], CASE_NUMBER, f["amt"]
    pdesc = (f"原告：{P}，男，1985年3月12日出生，汉族，住{READER_ADDR}，"
             f"公民身份号码{f['pid']}。")
    ddesc = (f"被告：{D}，{f['dsex']}，{_ymd(f['dborn'])}出生，汉族，住{DEFENDANT_ADDR}，"
             f"公民身份号码{f['did']}。")
    lent, filed, hearing, closed = (_ymd(f[k]) for k in ("lent", "filed", "hearing", "closed"))
    met = f["hearing"] + timedelta(days=2)
    complaint = [["=民事起诉状", f">{cn}", pdesc, ddesc, "诉讼请求：", f"+1. 判令被告归还借款本金人民币{amt}元；",
                  "+2. 本案诉讼费用由被告承担。", "事实和理由：",
                  f"+{lent}，原告与被告签订《借款协议》，约定被告向原告借款人民币{amt}元，"
                  f"于{_ymd(f['due'])}前归还。借款到期后，经原告多次催讨，被告至今未还。",
                  "+此致", COURT, f"@具状人：{P}", f"@{_ymd(f['filed'] - timedelta(days=3))}"]]
    record = [[f"#{COURT}", "=庭审笔录", f"时间：{hearing}上午9时30分", "地点：本院第三法庭", f"案号：{cn}",
               "案由：民间借贷纠纷", f"审判人员：审判长{j1}，审判员{j2}，审判员{j3}", f"书记员：{f['clerk']}",
               "审判长：现在开庭。首先核对当事人身份。", f"原告：{P}，身份证号码{f['pid']}。",
               f"被告：{D}，身份证号码{f['did']}。", "审判长：被告，你对原告提交的《借款协议》有何质证意见？"],
              ["被告：对真实性没有异议，但我已经归还了一部分借款。", "审判长：你方的主张有无证据证明？",
               "被告：有，我方将在庭后五日内提交转账记录。", "审判长：双方是否同意调解？", "原告：不同意调解。",
               "审判长：现在休庭。", "@原告（签名）：", "@被告（签名）：", "@书记员（签名）："]]
    judgment = [[f"#{COURT}", "=民事判决书", f">{cn}", pdesc, ddesc,
                 f"+原告{P}与被告{D}民间借贷纠纷一案，本院于{filed}立案后，依法适用普通程序，"
                 "公开开庭进行了审理。本案现已审理终结。",
                 f"+本院经审理认定事实如下：{lent}，原告向被告出借人民币{amt}元，被告至今未归还。"],
                ["+本院认为，原告与被告之间的借贷关系合法有效，被告应当按照约定的期限返还借款。",
                 "+依照《中华人民共和国民法典》第六百七十五条之规定，判决如下：",
                 f"+一、被告{D}于本判决发生法律效力之日起十日内向原告{P}归还借款本金{amt}元；",
                 f"+二、案件受理费{f['fee']}元，由被告{D}负担。",
                 f"@审判长　{j1}", f"@审判员　{j2}", f"@审判员　{j3}", f"@{_cn_date(f['closed'])}",
                 f"@书记员　{f['clerk']}"]]
    deliberation = [["=合议庭评议笔录", f"时间：{_ymd(met)}", "地点：本院第三会议室",
                     f"合议庭成员：{j1}、{j2}、{j3}", f"评议案件：{cn}民间借贷纠纷一案",
                     f"审判长{j1}：被告未能举证证明已还款，应承担不利后果。", f"审判员{j2}：同意审判长的意见。",
                     "评议结论：合议庭一致意见认为，本案事实清楚，支持原告的诉讼请求。", "@合议庭成员签名："]]
    return [_Doc(cn, 1, "起诉状", "民事起诉状", P, f["filed"] - timedelta(days=3), complaint),
            _Doc(cn, 2, "庭审笔录", "庭审笔录", COURT, f["hearing"], record, "第{i}页 共{n}页"),
            _Doc(cn, 3, "判决书", "民事判决书", COURT, f["closed"], judgment),
            _Doc(cn, 4, "合议庭评议笔录", "合议庭评议笔录", COURT, met, deliberation, "第{i}页 共{n}页", "副卷")]


def _enforcement_docs(f: dict) -> list[_Doc]:
    P, D, cn = f["P"], f["D"], f["exec_no"]
    applied, ruled = f["closed"] + timedelta(days=30), f["closed"] + timedelta(days=75)
    application = [["=强制执行申请书", f">{cn}", f"申请执行人：{P}，公民身份号码{f['pid']}。",
                    f"被执行人：{D}，公民身份号码{f['did']}。", "执行请求：",
                    f"+强制被执行人支付借款本金人民币{f['amt']}元。",
                    f"+{CASE_NUMBER}民事判决书已经发生法律效力，被执行人至今未履行。", "+此致", COURT,
                    f"@申请人：{P}", f"@{_ymd(applied)}"]]
    evidence = [["=证据目录", f">{cn}", f"提交人：{P}", f"1. {CASE_NUMBER}民事判决书", "2. 生效证明书",
                 "3. 申请执行人身份证复印件"]]
    ruling = [[f"#{COURT}", "=执行裁定书", f">{cn}", f"申请执行人：{P}。", f"被执行人：{D}。",
               f"+本院在执行申请执行人{P}与被执行人{D}民间借贷纠纷一案中，经网络执行查控系统查询，"
               "被执行人名下无可供执行的财产。",
               "+依照《中华人民共和国民事诉讼法》第二百六十八条之规定，裁定如下：", "+终结本次执行程序。",
               f"@审判员　{f['exec_judge']}", f"@{_cn_date(ruled)}", f"@书记员　{f['clerk']}"]]
    return [_Doc(cn, 1, "申请书", "强制执行申请书", P, applied, application),
            _Doc(cn, 2, "证据材料", "证据材料", P, applied, evidence),
            _Doc(cn, 3, "裁定书", "执行裁定书", COURT, ruled, ruling)]


@lru_cache(maxsize=8)
def _font(px: int) -> ImageFont.FreeTypeFont:
    if not FONT_FILE.exists():
        raise FileNotFoundError(f"{FONT_FILE}: CJK font missing (apt-get install fonts-noto-cjk)")
    return ImageFont.truetype(str(FONT_FILE), px, index=FONT_INDEX)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float, indent: float) -> list[str]:
    """Greedy breaking; never splits a digit run (ID numbers) or starts a line with closing punctuation."""
    lines, cur = [], ""
    for tok in TOKEN.findall(text):
        avail = width - (indent if not lines else 0)
        if cur and tok not in NO_START and font.getlength(cur + tok) > avail:
            lines.append(cur)
            cur = ""
        cur += tok
    return lines + [cur]


def _parse(markup: str) -> tuple[str, str]:
    """``#`` court name, ``=`` title (letter-spaced), ``>`` right-aligned, ``@`` signature block,
    ``+`` paragraph with a two-character indent; anything else is a flush-left paragraph."""
    kind = {"#": "court", "=": "title", ">": "right", "@": "sign", "+": "p"}.get(markup[:1], "np")
    text = markup if kind == "np" else markup[1:]
    return kind, " ".join(text) if kind == "title" else text


def _render_page(page: Page, footer: str, dpi: int) -> tuple[Image.Image, list[str]]:
    """One clean A4 grayscale page at ``dpi`` (16 pt body) and its text, one layout line per line."""
    mm, px = dpi / 25.4, round(16 * dpi / 72)
    w, h = round(210 * mm), round(297 * mm)
    left, right, y = round(28 * mm), w - round(26 * mm), round(37 * mm)
    img = Image.new("L", (w, h), 255)
    draw, lines = ImageDraw.Draw(img), []
    for kind, text in map(_parse, page):
        font = _font(round(px * 1.25) if kind in ("court", "title") else px)
        indent = 2 * px if kind == "p" else 0
        rows = _wrap(text, font, right - left, indent) if kind in ("p", "np") else [text]
        for i, row in enumerate(rows):
            width = font.getlength(row)
            x = {"court": (w - width) / 2, "title": (w - width) / 2, "right": right - width,
                 "sign": right - width - 2 * px}.get(kind, left + (indent if i == 0 else 0))
            draw.text((x, y), row, font=font, fill=0)
            lines.append(row)
            y += round(font.size * 1.7)
    if y > h - 35 * mm:
        raise ValueError(f"sample page starting {lines[0]!r} overflows A4 at {dpi} dpi")
    if footer:
        draw.text((w / 2, h - 25 * mm), footer, font=_font(px), fill=0, anchor="mm")
        lines.append(footer)
    return img, lines


def _pdf(doc: _Doc, dpi: int, when: datetime, producer: str) -> tuple[bytes, list[str]]:
    """Image-only PDF: grayscale JPEGs wrapped unchanged by img2pdf, dates fixed so bytes repeat."""
    jpegs, texts = [], []
    for i, page in enumerate(doc.pages, 1):
        img, lines = _render_page(page, doc.footer.format(i=i, n=len(doc.pages)), dpi)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=JPEG_QUALITY, dpi=(dpi, dpi), optimize=False, progressive=False)
        jpegs.append(buf.getvalue())
        texts.append("".join(s + "\n" for s in lines))
    pdf = img2pdf.convert(jpegs, creationdate=when, moddate=when, producer=producer,
                          engine=img2pdf.Engine.internal)
    return pdf, texts


def _case(f: dict, number: str, case_type: str, panel: list[str], retention: tuple[str, str],
          security: str) -> dict:
    civil = case_type == "民事"
    roles = ("原告", "被告") if civil else ("申请执行人", "被执行人")
    parties = [dict(role=roles[0], kind="person", name=f["P"], id_number=f["pid"], addr=READER_ADDR),
               dict(role=roles[1], kind="person", name=f["D"], id_number=f["did"], addr=DEFENDANT_ADDR)]
    return dict(case_number=number, court=COURT, court_code=COURT_CODE, case_type=case_type,
                procedure="一审" if civil else "执行", cause_of_action="民间借贷纠纷", parties=parties,
                judge=panel[0], panel=panel, clerk=f["clerk"], filing_date=f["filed"].isoformat(),
                closing_date=f["closed"].isoformat(), retention_period=retention[0],
                retention_period_legacy=retention[1], security_class=security)


def _cases(f: dict) -> list[dict]:
    """The civil case, then its enforcement, filed a month after the judgment."""
    later = dict(f, filed=f["closed"] + timedelta(days=30), closed=f["closed"] + timedelta(days=75))
    return [_case(f, CASE_NUMBER, "民事", f["panel"], ("60年", "长期"), "公开"),
            _case(later, f["exec_no"], "执行", [f["exec_judge"]], ("20年", "短期"), "内部")]


def _file_entry(doc: _Doc, rel: str, data: bytes, pages: int, when: datetime) -> dict:
    document = dict(seq=doc.seq, doc_type=doc.doc_type, title=doc.title, volume=doc.volume,
                    disclosable=doc.volume == "正卷", doc_date=doc.doc_date.isoformat(), author=doc.author)
    return dict(path=rel, sha256=hashlib.sha256(data).hexdigest(), byte_size=len(data), page_count=pages,
                media_type="application/pdf", scanned_at=when.isoformat(), case_number=doc.case_number,
                document=document)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def write_sample_batch(out_dir: Path, *, seed: int = 1, dpi: int = 200) -> Path:
    """Write the batch to ``out_dir/<batch_id>`` and its ground truth beside it in
    ``out_dir/ground_truth`` (so a validator that rejects unlisted files passes); return the batch."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; a sample batch needs an absent or empty folder")
    f = _facts(random.Random(f"juanzong-sample:{seed}"))
    start = datetime.combine(f["closed"] + timedelta(days=120), time(9), TZ)
    batch_id = f"{STATION}-{start:%Y%m%d}-{f['batch_seq']:03d}"
    batch, truth = out_dir / batch_id, out_dir / "ground_truth"
    files, index, when = [], {}, start
    for doc in _civil_docs(f) + _enforcement_docs(f):
        rel = f"{doc.case_number[1:5]}-{doc.case_number[6:-1]}/{doc.seq:02d}-{doc.title}.pdf"
        data, texts = _pdf(doc, dpi, when, f"ScanStation 4.2 ({STATION})")
        _write(batch / rel, data)
        index[rel] = []
        for n, text in enumerate(texts, 1):
            _write(truth / rel[:-4] / f"page_{n:04d}.txt", text)
            index[rel].append(dict(page=n, text=f"{rel[:-4]}/page_{n:04d}.txt", seal=False, skew_deg=0.0,
                                   rotation=0, color=False, blank=False))
        files.append(_file_entry(doc, rel, data, len(texts), when))
        when += timedelta(seconds=40 + 10 * len(texts))
    settings = dict(dpi=dpi, format="pdf", color_mode="gray", compression="jpeg", jpeg_quality=JPEG_QUALITY)
    manifest = dict(manifest_version="1.0", batch_id=batch_id, station_id=STATION,
                    operator={"id": "OP1024", "name": f["operator"]}, archive="广东省广州市中级人民法院",
                    scan_started=start.isoformat(), scan_finished=when.isoformat(), scan_settings=settings,
                    page_total=sum(x["page_count"] for x in files), cases=_cases(f), files=files)
    _write(batch / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    _write(truth / "index.json", json.dumps(index, ensure_ascii=False, indent=1))
    return batch


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ingest.sample", description="Write a sample station batch.")
    ap.add_argument("out_dir", type=Path, help="absent or empty folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dpi", type=int, default=200)
    a = ap.parse_args(argv)
    print(write_sample_batch(a.out_dir, seed=a.seed, dpi=a.dpi))


if __name__ == "__main__":
    main()
