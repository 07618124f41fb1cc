//! Facilities with their devices, detainees, contacts and the approved
//! contact lists that link them.

use crate::model::{
    ApprovedContact, Contact, Detainee, Device, DeviceKind, Facility, FacilityKind,
};

/// Reading facilities, devices, detainees and contacts.
#[async_trait::async_trait]
pub trait PeopleReads: Send {
    /// A facility with its devices.
    async fn facility(&mut self, id: i64) -> Result<Option<Facility>, sqlx::Error>;
    async fn facilities(&mut self) -> Result<Vec<Facility>, sqlx::Error>;
    async fn devices(&mut self, facility_id: i64) -> Result<Vec<Device>, sqlx::Error>;
    async fn device(&mut self, id: i64) -> Result<Option<Device>, sqlx::Error>;
    async fn detainee(&mut self, id: i64) -> Result<Option<Detainee>, sqlx::Error>;
    async fn detainee_by_number(
        &mut self,
        facility_id: i64,
        number: &str,
    ) -> Result<Option<Detainee>, sqlx::Error>;
    async fn detainees(&mut self, facility_id: Option<i64>) -> Result<Vec<Detainee>, sqlx::Error>;
    async fn contact(&mut self, id: i64) -> Result<Option<Contact>, sqlx::Error>;
    async fn approved_contacts(
        &mut self,
        detainee_id: i64,
    ) -> Result<Vec<ApprovedContact>, sqlx::Error>;
    async fn is_approved(&mut self, detainee_id: i64, contact_id: i64)
    -> Result<bool, sqlx::Error>;
}

/// Changing them, inside a write transaction. Times are Unix seconds.
#[async_trait::async_trait]
pub trait PeopleWrites: PeopleReads {
    async fn insert_facility(
        &mut self,
        name: &str,
        kind: FacilityKind,
        jurisdiction: &str,
        now: i64,
    ) -> Result<Facility, sqlx::Error>;
    async fn insert_device(
        &mut self,
        facility_id: i64,
        name: &str,
        kind: DeviceKind,
        now: i64,
    ) -> Result<Device, sqlx::Error>;
    async fn insert_detainee(
        &mut self,
        facility_id: i64,
        name: &str,
        number: &str,
        now: i64,
    ) -> Result<Detainee, sqlx::Error>;
    async fn insert_contact(
        &mut self,
        name: &str,
        bar_number: Option<&str>,
        now: i64,
    ) -> Result<Contact, sqlx::Error>;
    async fn set_bar_verified(&mut self, id: i64, bar_number: &str) -> Result<(), sqlx::Error>;
    async fn approve(
        &mut self,
        detainee_id: i64,
        contact_id: i64,
        relationship: &str,
        now: i64,
    ) -> Result<(), sqlx::Error>;
    /// False if the contact was not approved.
    async fn revoke(
        &mut self,
        detainee_id: i64,
        contact_id: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error>;
}
