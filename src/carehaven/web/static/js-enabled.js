// The GOV.UK template's inline snippet, as a file: the Content-Security-Policy allows no inline
// script. Loaded at the start of <body>, before anything is drawn.
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
