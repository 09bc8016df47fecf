/* imp-ui-login-page.h: server address, register and sign in. */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_LOGIN_PAGE (imp_ui_login_page_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiLoginPage, imp_ui_login_page, IMP, UI_LOGIN_PAGE, AdwBin)

void imp_ui_login_page_set_application (ImpUiLoginPage *self, ImpUiApplication *app);
/* Clears the password and any error, e.g. after a sign out. */
void imp_ui_login_page_reset (ImpUiLoginPage *self);

G_END_DECLS
