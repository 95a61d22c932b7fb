from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional

from forms.base import BaseForm
from forms.validators import Mobile


class LoginForm(BaseForm):
    username = StringField(_l("用户名"), validators=[InputRequired(_l("请输入用户名")), Length(max=50)])
    password = PasswordField(_l("密码"), validators=[InputRequired(_l("请输入密码")), Length(max=128)])


class ContactForm(BaseForm):
    """GRAD-3: the graduate keeps their own mobile number and e-mail up to date; the rest is the school's."""

    phone = StringField(_l("手机号码"), validators=[InputRequired(_l("请填写手机号码")), Mobile()])
    email = StringField(_l("电子邮箱"), validators=[Optional(), Email(_l("电子邮箱格式不正确")), Length(max=100)])

    def clean(self) -> dict[str, str | None]:
        return {"phone": (self.phone.data or "").strip(), "email": (self.email.data or "").strip() or None}
