from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from forms.base import BaseForm


class LoginForm(BaseForm):
    username = StringField("用户名", validators=[InputRequired("请输入用户名"), Length(max=50)])
    password = PasswordField("密码", validators=[InputRequired("请输入密码"), Length(max=128)])
