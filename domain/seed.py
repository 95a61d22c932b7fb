"""Demo data for `make run` and small factories the tests share."""
from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from domain.accounts import hash_password
from domain.cohorts import ensure_cohort
from domain.models import Account, Department, Graduate, Province, School

DEMO_PASSWORD = "demo1234"
_seq = itertools.count(1)


def id_number(area: str = "350203", seq: int | None = None) -> str:
    """A 身份证号 with a correct GB 11643 check digit, distinct for every seq."""
    n = seq if seq is not None else next(_seq)
    birth = (date(2003, 1, 1) + timedelta(days=n // 1000)).strftime("%Y%m%d")
    body = f"{area}{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


def make_province(session: Session, code: str = "350000", name: str = "福建省", **kw) -> Province:
    province = Province(code=code, name=name, enabled_modules=kw.pop("enabled_modules", ["destination", "archive", "hukou"]), **kw)
    session.add(province)
    session.flush()
    return province


def make_school(session: Session, province: Province, code: str = "10384", name: str = "厦门大学", **kw) -> School:
    school = School(code=code, name=name, province_id=province.id, open_modules=kw.pop("open_modules", ["destination"]), **kw)
    session.add(school)
    session.flush()
    return school


def make_department(session: Session, school: School, name: str) -> Department:
    dept = Department(school_id=school.id, name=name)
    session.add(dept)
    session.flush()
    return dept


def make_account(session: Session, username: str, role: str, display_name: str, password: str = DEMO_PASSWORD,
                 **kw) -> Account:
    account = Account(username=username, role=role, display_name=display_name,
                      password_hash=hash_password(password), **kw)
    session.add(account)
    session.flush()
    return account


def make_graduate(session: Session, school: School, department: Department, *, name: str = "张三",
                  username: str | None = None, confirmed: bool = True, **kw) -> Graduate:
    n = next(_seq)
    fields = dict(
        cohort=2026, exam_no=f"26350203{n:06d}", name=name, id_number=id_number(seq=n), education="本科",
        gender="男", ethnicity="汉族", political_status="共青团员", training_mode="非定向",
        origin_code="350203", origin_name="福建省厦门市思明区", enrolled_on="202209", graduates_on="202606",
        student_no=f"2022{n:06d}", major="计算机科学与技术", duration="4", archive_in_school=True,
        hukou_in_school=True, email=f"grad{n}@example.edu.cn", phone=f"138{n:08d}",
    )
    fields.update(kw)
    ensure_cohort(session, int(str(fields["cohort"])))
    graduate = Graduate(school_id=school.id, department_id=department.id, **fields)
    if confirmed:
        from core.db import utcnow

        graduate.confirmed_at = utcnow()
    session.add(graduate)
    session.flush()
    if username:
        make_account(session, username, "graduate", name, id_number=graduate.id_number)
    return graduate


ALL_READ_WRITE = {"basic": "rw", "archive": "rw", "hukou": "rw"}  # ROLE-2


def seed_demo(session: Session) -> bool:
    """Idempotent: does nothing when the demo school exists."""
    if session.scalar(select(School).where(School.code == "10384")) is not None:
        return False
    province = make_province(session)  # enables destination, archive and hukou (MOD-2)
    # MOD-4: the demo school has completed the settings of all three modules
    school = make_school(session, province, open_modules=["destination", "archive", "hukou"])
    cs = make_department(session, school, "信息学院")
    econ = make_department(session, school, "经济学院")
    make_account(session, "admin", "admin", "系统管理员")
    make_account(session, "province", "province", "福建省教育厅", province_id=province.id)
    # ROLE-2: the province gave the demo school read-write on all three areas (the default is basic only)
    make_account(session, "school", "school", "厦门大学就业指导中心", school_id=school.id,
                 module_permissions=ALL_READ_WRITE)
    make_account(session, "dept_info", "department", "信息学院审核员", school_id=school.id, department_id=cs.id,
                 module_permissions=ALL_READ_WRITE)
    make_account(session, "dept_econ", "department", "经济学院审核员", school_id=school.id, department_id=econ.id,
                 module_permissions=ALL_READ_WRITE)
    # 生源所在地 pre-fills 转回生源地 (ARC-3); the hukou module is only for hukou moved to the school (MOD-5)
    make_graduate(session, school, cs, name="张三", username="zhangsan", confirmed=False,
                  origin_code="350203", origin_name="福建省厦门市思明区", hukou_in_school=True)
    make_graduate(session, school, cs, name="李四", username="lisi",
                  origin_code="350102", origin_name="福建省福州市鼓楼区", hukou_in_school=True)
    make_graduate(session, school, econ, name="王五", username="wangwu",
                  origin_code="110108", origin_name="北京市海淀区", hukou_in_school=False)
    make_graduate(session, school, econ, name="赵六", username="zhaoliu", training_mode="定向",
                  directed_unit="福建省漳州市教育局", directed_unit_address="福建省漳州市芗城区胜利西路1号",
                  origin_code="350602", origin_name="福建省漳州市芗城区", hukou_in_school=False)
    make_employer(session, "厦门星海科技有限公司", username="employer")
    # GRAD-2: an account whose basic information the school never uploaded.
    make_account(session, "nobasic", "graduate", "钱七", id_number=id_number(seq=999))
    session.flush()
    return True


def credit_code(seq: int) -> str:
    """A 统一社会信用代码 with a correct GB 32100 check character."""
    body = f"91350200MA{seq:07d}"
    return body + uscc.calc_check_digit(body)


def make_employer(session: Session, name: str = "厦门星海科技有限公司", username: str | None = None, **kw):
    from domain.models import Employer

    n = next(_seq)
    fields = dict(name=name, credit_code=credit_code(n), nature="56", industry="I", division_code="350203",
                  address="厦门市思明区软件园二期", contact="陈经理", phone="0592-1234567", mobile=f"139{n:08d}",
                  email=f"hr{n}@example.com")
    fields.update(kw)
    employer = Employer(**fields)
    session.add(employer)
    session.flush()
    if username:
        make_account(session, username, "employer", name, employer_id=employer.id)
    return employer
