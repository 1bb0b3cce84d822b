// The console's only script: behaviour is declared with data- attributes in the templates, so
// the pages need no inline JavaScript and the Content-Security-Policy can forbid it.
//   data-confirm="…"     on a form (asked on submit) or a button/link (asked on click)
//   data-autosubmit      on a field: submit its form when it changes
//   data-print           on a link/button: print the page
//   data-select-all="n"  on a checkbox: tick or clear every checkbox named n
//   data-filters-by="id" on a select: show only options whose data-project equals the value
//                        of the element with that id (the server checks the pair again)
// The navigation's menus are <details> and work without this script; it closes the other menus
// when one opens or when the user clicks elsewhere, and Escape closes the open one.
(function () {
  'use strict';

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener('click', function (event) {
    var el = event.target.closest ? event.target.closest('[data-confirm], [data-print]') : null;
    if (!el || el.tagName === 'FORM') return;
    if (el.hasAttribute('data-print')) {
      event.preventDefault();
      window.print();
      return;
    }
    if (!window.confirm(el.getAttribute('data-confirm'))) event.preventDefault();
  }, true);

  document.addEventListener('change', function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute('data-autosubmit') && el.form) el.form.submit();
    var group = el.getAttribute && el.getAttribute('data-select-all');
    if (group) {
      document.querySelectorAll('input[type="checkbox"][name="' + group + '"]').forEach(function (box) {
        box.checked = el.checked;
      });
    }
  });

  function syncFiltered(select) {
    var source = document.getElementById(select.getAttribute('data-filters-by'));
    if (!source) return;
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      if (!option.value) continue;
      option.hidden = option.getAttribute('data-project') !== source.value;
      if (option.hidden && option.selected) select.value = '';
    }
  }

  var menus = document.querySelectorAll('header.top details.menu');
  menus.forEach(function (menu) {
    menu.addEventListener('toggle', function () {
      if (!menu.open) return;
      menus.forEach(function (other) { if (other !== menu) other.open = false; });
    });
  });
  document.addEventListener('click', function (event) {
    menus.forEach(function (menu) { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') return;
    menus.forEach(function (menu) {
      if (!menu.open) return;
      menu.open = false;
      menu.querySelector('summary').focus();
    });
  });

  document.querySelectorAll('select[data-filters-by]').forEach(function (select) {
    var source = document.getElementById(select.getAttribute('data-filters-by'));
    if (source) source.addEventListener('change', function () { syncFiltered(select); });
    syncFiltered(select);
  });
})();
